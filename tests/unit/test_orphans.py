from engine.batch.orphans import QuietWatch


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_quiet_time_counts_from_the_last_change_seen():
    clock = Clock()
    watch = QuietWatch(clock)
    assert watch.quiet_for("b1", 1) == 0.0  # first look: nothing known yet
    clock.now += 6
    assert watch.quiet_for("b1", 1) == 6.0
    assert watch.quiet_for("b1", 2) == 0.0  # its coordinator wrote progress
    clock.now += 4
    assert watch.quiet_for("b1", 2) == 4.0


def test_keep_only_forgets_the_others():
    clock = Clock()
    watch = QuietWatch(clock)
    watch.quiet_for("b1", 1), watch.quiet_for("b2", 1)
    clock.now += 30
    watch.keep_only(["b2"])
    assert watch.quiet_for("b1", 1) == 0.0 and watch.quiet_for("b2", 1) == 30.0
