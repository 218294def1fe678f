"""The controller's own rules, on the simulated board without the scenario runner."""
# micropython-heap: 320K
# (the simulated board carries the real wall clock and its simulated DS3231)
from hw.sim.board import SimBoard
from pump import events
from pump.controller import Controller
from pump.prescription import Prescription

DAY0, EIGHT_AM = 9557, 8 * 3_600_000
ACCEPT = {"override_reason": None, "violations": [], "catheter_suspected": False}


def delivering_pump(rate_ng_per_h=30_000):
    board = SimBoard(DAY0, EIGHT_AM, fill_nl=20_000_000)
    board.pressure.read_mpsi = lambda: 200 + board.time.t_ms % 7  # a quiet line that is not stuck
    ctl = Controller(board, DAY0, EIGHT_AM)
    ctl.patient = {"origin": "spinal", "age_years": 40, "days_since_implant": 100}
    ctl.refill(20_000_000, 500, ctl.now_s())
    ctl.set_prescription(Prescription([(0, rate_ng_per_h)]), ctl.now_s(), ACCEPT)
    return board, ctl


def wake(board, ctl, t_ms):
    """Time passes to t_ms (the queued pulses go out), then the pump wakes."""
    for _t, forward in board.stepper.due_before(t_ms):
        board.stepper.emit(forward)
    board.time.t_ms = t_ms
    return ctl.advance(*board.time.day_ms())


def test_a_shell_that_wakes_minutes_late_restarts_without_a_catch_up_burst():
    board, ctl = delivering_pump()
    wake(board, ctl, 0)
    board.stepper.cancel()           # the board hung: what was queued never went out
    wake(board, ctl, 5 * 60_000)     # five minutes later
    burst = [t for t, _forward in board.stepper.queue if t <= 5 * 60_000 + 1]
    assert len(burst) <= 1           # no five minutes of steps at once
    assert any(entry[2] == events.DELIVERY_GAP for entry in ctl.log.newest(8))


def test_a_wake_a_few_seconds_late_sends_the_steps_due_and_keeps_the_schedule():
    board, ctl = delivering_pump(rate_ng_per_h=1_000_000)  # 2 mL/h of steps: 7 a second
    wake(board, ctl, 0)
    emitted = board.stepper.emitted
    board.stepper.cancel()
    wake(board, ctl, 3_000)          # three seconds late: about 21 steps owed
    owed = [t for t, _forward in board.stepper.queue if t <= 3_000]
    assert 8 <= len(owed) <= 8 + 1 and board.stepper.emitted == emitted  # a batch at once, then on schedule
    assert not any(entry[2] == events.DELIVERY_GAP for entry in ctl.log.newest(8))


def test_a_program_after_a_storage_stop_starts_delivery_afresh_without_a_burst():
    board, ctl = delivering_pump(rate_ng_per_h=500_000)  # 1 mL/h at 500 mcg/mL: ~3.5 steps/s
    wake(board, ctl, 0)
    board.fs.refuse_writes(1)
    ctl.storage_failed(ctl.now_s())  # as a failed save does
    wake(board, ctl, 3_600_000)  # an hour stopped
    ctl.set_prescription(Prescription([(0, 500_000)]), ctl.now_s(), ACCEPT)  # flash takes it again
    assert ctl.delivering
    start = board.time.t_ms
    ctl.advance(*board.clock.now())  # the shell's pass after the command, on the board's clock
    soon = [t for t, forward in board.stepper.queue if forward and t <= start + 1_000]
    assert 0 < len(soon) <= 5  # a second of steps, not a batch of the hour's owed at once
    assert any(entry[2] == events.RESUMED for entry in ctl.log.newest(8))
