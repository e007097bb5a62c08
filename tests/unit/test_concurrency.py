"""The adaptive concurrency limit against a model of a server with a few slots."""

from engine.provider.concurrency import ConcurrencyLimit


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def run_against_slots(limiter, clock, slots, rounds=400, service=0.1):
    """A closed loop: fill the limit, each request takes longer once it queues."""
    for _ in range(rounds):
        sent = limiter.acquire(10_000)
        rtt = service * max(1.0, limiter.in_flight / slots)
        clock.now += rtt
        for _ in range(sent):
            limiter.sample(rtt)


def test_settles_near_the_slot_count():
    for slots in (1, 4, 32):
        clock = Clock()
        limiter = ConcurrencyLimit(clock=clock)
        run_against_slots(limiter, clock, slots)
        # Fills about every slot (goodput) without queueing much beyond them (latency).
        assert 0.85 * slots <= limiter.limit <= 2 * slots + 4, (slots, limiter.limit)


def test_grows_against_a_server_that_never_queues():
    clock = Clock()
    limiter = ConcurrencyLimit(max_limit=512, clock=clock)
    run_against_slots(limiter, clock, slots=10_000, rounds=200)
    assert limiter.limit == 512


def test_does_not_grow_while_the_caller_leaves_it_unused():
    clock = Clock()
    limiter = ConcurrencyLimit(initial=16, clock=clock)
    for _ in range(100):
        assert limiter.acquire(2) == 2
        clock.now += 0.1
        limiter.sample(0.1)
        limiter.sample(0.1)
    assert limiter.limit == 16


def test_never_hands_out_more_slots_than_the_limit():
    limiter = ConcurrencyLimit(initial=8, clock=Clock())
    assert limiter.acquire(5) == 5
    assert limiter.acquire(5) == 3
    assert limiter.acquire(1) == 0
    limiter.release(2)
    assert limiter.in_flight == 6
    assert limiter.acquire(4) == 2


def test_a_burst_of_timeouts_halves_once_per_round_trip():
    clock = Clock()
    limiter = ConcurrencyLimit(initial=64, clock=clock)
    limiter.acquire(64)
    limiter.sample(1.0)  # the round trip is now known: 1 s
    for _ in range(20):
        limiter.sample(30.0, dropped=True)
    assert limiter.limit == 32
    clock.now += 2.0
    limiter.sample(30.0, dropped=True)
    assert limiter.limit == 16


def test_never_falls_below_the_minimum():
    clock = Clock()
    limiter = ConcurrencyLimit(initial=4, clock=clock)
    for _ in range(10):
        clock.now += 100
        limiter.sample(1.0, dropped=True)
    assert limiter.limit == 1


def test_a_configured_limit_is_pinned():
    clock = Clock()
    limiter = ConcurrencyLimit(configured=4, clock=clock)
    run_against_slots(limiter, clock, slots=10_000, rounds=50)
    limiter.sample(1.0, dropped=True)
    assert limiter.view().as_dict() == {"limit": 4, "in_flight": 0, "source": "configured"}


def test_the_view_says_adaptive_and_counts_in_flight():
    limiter = ConcurrencyLimit(initial=8, clock=Clock())
    limiter.acquire(3)
    assert limiter.view().as_dict() == {"limit": 8, "in_flight": 3, "source": "adaptive"}
