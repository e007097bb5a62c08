"""engine.provider.breaker: when a provider's circuit opens, lets a probe through, and closes (a fake clock)."""

from engine.provider.breaker import CLOSED, HALF_OPEN, OPEN, BreakerPolicy, Breakers, CircuitBreaker, Tally

POLICY = BreakerPolicy(window=10.0, min_failures=5, storm_429s=20, cooldown=30.0, probe_timeout=60.0)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker() -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker(POLICY, clock), clock


def test_an_outage_opens_the_circuit_and_new_items_are_kept_away():
    circuit, clock = breaker()
    assert circuit.record(Tally(failed=4)) == CLOSED  # fewer than min_failures: the retries' job
    clock.now += 1
    assert circuit.record(Tally(failed=1)) == OPEN
    assert not circuit.admit()


def test_a_busy_provider_that_dies_opens_after_a_few_failures_in_a_row():
    circuit, _ = breaker()
    assert circuit.record(Tally(answered=5000)) == CLOSED  # the answers before it died do not hold it open
    for _ in range(4):
        assert circuit.record(Tally(failed=1)) == CLOSED
    assert circuit.record(Tally(failed=1)) == OPEN


def test_answers_between_failures_keep_a_flaky_provider_closed():
    circuit, _ = breaker()
    for _ in range(100):  # 20% 500s, reported as they come with the answers before each
        assert circuit.record(Tally(answered=4, failed=1)) == CLOSED
    assert circuit.record(Tally(answered=3, failed=4)) == CLOSED  # the streak starts after the answers
    assert circuit.record(Tally(failed=1)) == OPEN


def test_failures_further_apart_than_the_window_are_no_streak():
    circuit, clock = breaker()
    circuit.record(Tally(failed=4))
    clock.now += 11
    assert circuit.record(Tally(failed=4)) == CLOSED
    assert circuit.record(Tally(failed=1)) == OPEN


def test_a_429_storm_opens_it_but_the_ordinary_429s_of_a_paced_batch_do_not():
    paced, _ = breaker()
    for _ in range(50):
        assert paced.record(Tally(answered=50, rate_limited=1)) == CLOSED  # 2%
    storm, _ = breaker()
    assert storm.record(Tally(answered=5, rate_limited=19)) == CLOSED  # not yet many
    assert storm.record(Tally(rate_limited=1)) == OPEN


def test_after_the_cooldown_one_probe_goes_through_and_an_answer_closes_it():
    circuit, clock = breaker()
    circuit.record(Tally(failed=5))
    clock.now += 29.9
    assert circuit.state == OPEN and not circuit.admit()
    clock.now += 0.1
    assert circuit.state == HALF_OPEN
    assert circuit.admit()  # the probe
    assert not circuit.admit() and not circuit.admit()  # the others wait for its answer
    assert circuit.record(Tally(answered=1)) == CLOSED
    assert circuit.admit()
    assert circuit.record(Tally(failed=4)) == CLOSED  # a fresh streak: the outage's failures are gone


def test_a_failed_probe_opens_it_for_another_cooldown():
    circuit, clock = breaker()
    circuit.record(Tally(failed=5))
    clock.now += 30
    assert circuit.admit()
    assert circuit.record(Tally(failed=1)) == OPEN
    clock.now += 29
    assert not circuit.admit()
    clock.now += 1
    assert circuit.admit()


def test_a_429_probe_opens_it_again_too():
    circuit, clock = breaker()
    circuit.record(Tally(rate_limited=20))
    clock.now += 30
    assert circuit.admit()
    assert circuit.record(Tally(rate_limited=1)) == OPEN


def test_a_probe_that_never_reports_is_replaced_after_its_timeout():
    circuit, clock = breaker()
    circuit.record(Tally(failed=5))
    clock.now += 30
    assert circuit.admit()
    clock.now += 59
    assert not circuit.admit()
    clock.now += 1
    assert circuit.admit()  # its caller died: another probe


def test_results_reported_while_open_change_nothing():
    circuit, clock = breaker()
    circuit.record(Tally(failed=5))
    assert circuit.record(Tally(answered=3)) == OPEN  # late answers of calls sent before it opened
    clock.now += 30
    assert circuit.state == HALF_OPEN


def test_breakers_keep_one_circuit_per_provider_and_report_with_each_question():
    clock = Clock()
    breakers = Breakers(POLICY, clock)
    assert breakers.admit("a", Tally(failed=5)) == (False, OPEN)
    assert breakers.admit("b", Tally()) == (True, CLOSED)
    assert breakers.report("a", Tally(answered=1)) == OPEN
