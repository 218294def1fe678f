"""hw.stepper on the fake rp2: what the STEP, DIR and EN pins do for a plan.

The fake state machine runs the driver's own PIO program cycle by cycle, so
these tests look at the pins, not at the words the driver computed.
"""
from array import array

import pytest

import fake_machine

STEP, DIR, EN, DIAG = 2, 3, 4, 5
CYCLE_US = 100   # one PIO cycle at 10 kHz
FIRST_EDGE_LATENCY_US = 3 * CYCLE_US   # an offset of 0 still needs pull, mov and the loop exit


class Limit:
    def __init__(self, closed=False):
        self.closed = closed

    def active(self):
        return self.closed


@pytest.fixture
def hw():
    with fake_machine.installed() as world:
        yield world


def make_stepper(hw, **kwargs):
    Pin = hw.machine.Pin
    module = hw.load("hw.stepper")
    return module.Stepper(0, Pin(STEP), Pin(DIR, Pin.OUT, value=0), Pin(EN, Pin.OUT, value=1),
                          Pin(DIAG, Pin.IN, Pin.PULL_DOWN), **kwargs)


def plan(*offsets_ms):
    return array("I", offsets_ms)


def edges_after(hw, start_us):
    return [t - start_us for t in hw.pin(STEP).rising_edges_us() if t >= start_us]


def test_each_pulse_rises_at_its_planned_offset():
    with fake_machine.installed() as hw:
        stepper = make_stepper(hw)
        offsets = plan(1, 10, 25, 1000, 1001, 7_500)
        start = hw.now_us
        stepper.pulse(offsets, len(offsets))
        hw.advance_ms(8_000)
        assert edges_after(hw, start) == [ms * 1000 for ms in offsets]


def test_an_offset_of_zero_comes_out_within_three_pio_cycles(hw):
    stepper = make_stepper(hw)
    start = hw.now_us
    stepper.pulse(plan(0), 1)
    hw.advance_ms(5)
    assert edges_after(hw, start) == [FIRST_EDGE_LATENCY_US]


@pytest.mark.parametrize("count, spacing_ms", [(1, 5), (8, 3), (9, 3), (50, 20), (128, 1)])
def test_pulse_count_and_spacing_follow_the_plan_past_the_fifo_depth(hw, count, spacing_ms):
    stepper = make_stepper(hw)
    offsets = array("I", range(spacing_ms, spacing_ms * (count + 1), spacing_ms))
    start = hw.now_us
    stepper.pulse(offsets, count)
    hw.advance_ms(spacing_ms * (count + 2))
    edges = edges_after(hw, start)
    assert len(edges) == count
    assert [b - a for a, b in zip(edges, edges[1:])] == [spacing_ms * 1000] * (count - 1)
    assert stepper.emitted == count and stepper.pending() == 0


def test_pending_counts_down_as_pulses_come_out(hw):
    stepper = make_stepper(hw)
    stepper.pulse(plan(10, 20, 30), 3)
    seen = []
    for _ in range(4):
        seen.append(stepper.pending())
        hw.advance_ms(10)
    assert seen == [3, 2, 1, 0]


@pytest.mark.parametrize("forward_dir_level, forward, dir_level", [
    (1, True, 1), (1, False, 0), (0, True, 0), (0, False, 1)])
def test_dir_is_set_before_the_first_edge_with_the_configured_polarity(hw, forward_dir_level, forward, dir_level):
    stepper = make_stepper(hw, forward_dir_level=forward_dir_level)
    stepper.pulse(plan(5, 10), 2, forward=forward)
    first_edge = None
    for _ in range(20):
        hw.advance_ms(1)
        if hw.pin(STEP).rising_edges_us():
            first_edge = hw.pin(STEP).rising_edges_us()[0]
            break
    assert first_edge is not None
    assert hw.pin(DIR).value() == dir_level
    assert all(t <= first_edge for t, _level in hw.pin(DIR).history)


def test_reverse_pulses_count_down_emitted(hw):
    stepper = make_stepper(hw)
    stepper.pulse(plan(1, 2, 3), 3, forward=True)
    hw.advance_ms(10)
    stepper.pulse(plan(1, 2, 3, 4, 5), 5, forward=False)
    hw.advance_ms(10)
    assert stepper.emitted == 3 - 5


def test_enable_is_asserted_while_pulses_are_pending_and_released_after_the_last(hw):
    stepper = make_stepper(hw)
    assert hw.pin(EN).value() == 1
    start = hw.now_us
    stepper.pulse(plan(10, 20, 30), 3)
    assert hw.pin(EN).value() == 0
    hw.advance_ms(100)
    last_edge = hw.pin(STEP).rising_edges_us()[-1]
    released = [t for t, level in hw.pin(EN).history if level == 1 and t > start]
    assert released == [last_edge]
    assert hw.pin(EN).value() == 1


def test_step_pulse_is_high_long_enough_for_the_tmc2209(hw):
    stepper = make_stepper(hw)
    stepper.pulse(plan(1, 2, 3), 3)
    hw.advance_ms(10)
    rises = hw.pin(STEP).rising_edges_us()
    falls = hw.pin(STEP).falling_edges_us()[-3:]
    assert all(fall - rise >= CYCLE_US for rise, fall in zip(rises, falls))  # datasheet: 100 ns


def test_cancel_drops_what_is_pending_stops_the_train_and_releases_enable(hw):
    stepper = make_stepper(hw)
    stepper.pulse(array("I", range(10, 210, 10)), 20)
    hw.advance_ms(55)
    dropped = stepper.cancel()
    edges_at_cancel = len(hw.pin(STEP).rising_edges_us())
    hw.advance_ms(500)
    assert (edges_at_cancel, dropped) == (5, 15)
    assert len(hw.pin(STEP).rising_edges_us()) == 5
    assert stepper.emitted == 5 and stepper.pending() == 0
    assert hw.pin(EN).value() == 1 and hw.pin(STEP).value() == 0


def test_the_stepper_runs_again_after_a_cancel(hw):
    stepper = make_stepper(hw)
    stepper.pulse(plan(10, 20, 30), 3)
    hw.advance_ms(15)
    stepper.cancel()
    start = hw.now_us
    stepper.pulse(plan(4, 8), 2)
    hw.advance_ms(20)
    assert edges_after(hw, start) == [4_000, 8_000]
    assert stepper.emitted == 3


def test_pulses_queued_while_others_are_pending_follow_at_their_own_offsets(hw):
    stepper = make_stepper(hw)
    start = hw.now_us
    stepper.pulse(plan(10, 20, 30), 3)
    hw.advance_ms(15)
    stepper.pulse(plan(20, 30), 2)    # 35 and 45 ms after the start
    hw.advance_ms(100)
    assert edges_after(hw, start) == [10_000, 20_000, 30_000, 35_000, 45_000]


def test_a_direction_change_with_pulses_pending_is_refused(hw):
    stepper = make_stepper(hw)
    stepper.pulse(plan(10, 20), 2, forward=True)
    with pytest.raises(ValueError):
        stepper.pulse(plan(5), 1, forward=False)
    hw.advance_ms(50)
    assert stepper.emitted == 2


@pytest.mark.parametrize("offsets", [(10, 5), (0, 86_400_001)])
def test_offsets_that_go_backwards_or_beyond_a_day_are_refused_and_nothing_is_queued(hw, offsets):
    stepper = make_stepper(hw)
    with pytest.raises(ValueError):
        stepper.pulse(array("I", offsets), len(offsets))
    assert stepper.pending() == 0 and hw.pin(EN).value() == 1


def test_more_pulses_than_the_queue_holds_are_refused(hw):
    stepper = make_stepper(hw, capacity=16)
    with pytest.raises(ValueError):
        stepper.pulse(array("I", range(1, 18)), 17)
    assert stepper.pending() == 0


def test_a_closed_limit_switch_refuses_pulses_toward_it_only(hw):
    end, home = Limit(closed=True), Limit()
    stepper = make_stepper(hw, forward_limit=end, reverse_limit=home)
    assert stepper.pulse(plan(1, 2), 2, forward=True) == 0
    assert hw.pin(EN).value() == 1
    assert stepper.pulse(plan(1, 2), 2, forward=False) == 2
    hw.advance_ms(10)
    assert stepper.emitted == -2


def test_halt_toward_stops_only_motion_in_that_direction(hw):
    stepper = make_stepper(hw)
    stepper.pulse(plan(10, 20, 30), 3, forward=False)
    assert stepper.halt_toward(True) == 0
    hw.advance_ms(15)
    assert stepper.halt_toward(False) == 2
    hw.advance_ms(50)
    assert stepper.emitted == -1


def test_diag_high_is_latched_until_read_once(hw):
    stepper = make_stepper(hw)
    assert not stepper.stalled()
    hw.drive(DIAG, 1)
    hw.advance_ms(1)
    hw.drive(DIAG, 0)
    assert stepper.stalled()
    assert not stepper.stalled()


def test_diag_still_high_reads_as_stalled(hw):
    stepper = make_stepper(hw)
    hw.drive(DIAG, 1)
    assert stepper.stalled() and stepper.stalled()


def test_the_ticks_wrap_does_not_disturb_queued_pulses():
    # rp2 ticks_ms wraps at 2**30 ms; start 20 ms before it.
    with fake_machine.installed(start_ms=fake_machine.TICKS_PERIOD - 20) as hw:
        stepper = make_stepper(hw)
        start = hw.now_us
        stepper.pulse(plan(10, 20), 2)
        hw.advance_ms(15)
        stepper.pulse(plan(15, 25), 2)   # 30 and 40 ms after the start, past the wrap
        hw.advance_ms(60)
        assert edges_after(hw, start) == [10_000, 20_000, 30_000, 40_000]
