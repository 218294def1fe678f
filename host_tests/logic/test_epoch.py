"""A pump programmed in 2026 runs on through 2034-01-09 13:37:04, when
seconds since 2000 pass 2**30 (2034-01-10 in the zones east of it): its wake-ups that do not write flash still allocate nothing
and every integer on the wake-up path stays below 2**30 (an RP2040 small
int; past it, each one is a long int on the heap).

Under MicroPython each such wake-up runs with the heap locked. The unix
port's small ints are 63-bit, so there the lock alone would not see a
2**31 second count: the integers themselves are checked too, on both
interpreters. Which wake-ups write flash (an authorisation every few
minutes) is learnt from a first run of the same, deterministic, day; so is
which start a segment of constant rate (midnight here: pump.delivery works
out a segment's step times with long ints once, at its start), the other
wake-ups that may allocate.
"""
# micropython-heap: 320K
from hw.sim.board import SimBoard
from expect import heap_lock, heap_unlock
from hw.sim.flash import FakeFlash
from pump.controller import Controller
from pump.prescription import Prescription
from pump.units import days_from_date


SMALL_INT = 1 << 30
PROGRAMMED = days_from_date(2026, 3, 2)
CROSSING = days_from_date(2034, 1, 9)  # 2**30 s since 2000 is 13:37:04 that day
NOON_MS = 12 * 3_600_000
ACCEPT = {"override_reason": None, "violations": [], "catheter_suspected": False}


class CountingStepper:
    """The driver's contract with nothing to allocate (the simulated one
    keeps a list of pulses): what is queued goes out at the next wake-up."""

    def __init__(self):
        self.emitted = 0
        self.queued = 0

    def pulse(self, offsets_ms, count, forward=True):
        self.queued += count
        return count

    def pending(self):
        return self.queued

    def cancel(self):
        dropped, self.queued = self.queued, 0
        return dropped

    def stalled(self):
        return False

    def step_all(self):
        self.emitted += self.queued
        self.queued = 0


def pump_in_2034(flash):
    """Programmed on 2026-03-02; the same flash read back by a board whose
    clock says 2034-01-09 12:00 (a restart, as after any power cut)."""
    board = SimBoard(PROGRAMMED, 8 * 3_600_000, flash=flash)
    ctl = Controller(board, *board.clock.now())
    ctl.patient = {"origin": "spinal", "age_years": 40, "days_since_implant": 100}
    ctl.refill(20_000_000, 500, ctl.now_s())
    ctl.set_prescription(Prescription([(0, 30_000)]), ctl.now_s(), ACCEPT)
    board = SimBoard(CROSSING, NOON_MS, flash=flash)
    board.stepper = CountingStepper()
    board.pressure.read_mpsi = lambda: 200 + board.time.t_ms % 7  # a quiet line that is not stuck
    board.press_ack()  # the restart alarm acknowledged
    return board, Controller(board, *board.time.day_ms())


# The segment's rate fraction is made of long ints by design (pump.delivery):
# they are used when a segment starts, a few times a day, not per wake-up.
SEGMENT_FRACTION = ("seg_num", "seg_den", "seg_carry", "bolus_num", "bolus_lump")


def ints_of(*objects):
    for obj in objects:
        for name, value in obj.__dict__.items():
            if isinstance(value, int) and not isinstance(value, bool) and name not in SEGMENT_FRACTION:
                yield value


def run_day(flash, writes=None):
    """One simulated day of wake-ups. Learns (writes is None) or is told
    which of them write flash or start a segment; returns their indices and
    the wake count."""
    board, ctl = pump_in_2034(flash)
    learnt = []
    wake_count = 0
    while board.time.t_ms < 86_400_000:
        day, ms = board.time.day_ms()
        ops, segment = flash.ops, (ctl.seg_day, ctl.seg_start_ms)
        quiet = writes is not None and wake_count not in writes
        if quiet:
            heap_lock()
        try:
            wake = ctl.advance(day, ms)
        finally:
            if quiet:
                heap_unlock()
        if flash.ops != ops or (ctl.seg_day, ctl.seg_start_ms) != segment:
            learnt.append(wake_count)
        assert ctl.now_s() < SMALL_INT, (day, ms)
        for value in ints_of(ctl, ctl.pacer, ctl.reservoir, board.stepper):
            assert -SMALL_INT <= value < SMALL_INT, (wake_count, value)
        board.stepper.step_all()
        board.time.t_ms += wake - ms
        wake_count += 1
    assert ctl.delivering and board.stepper.emitted > 0
    return learnt, wake_count


def test_wake_ups_across_2_to_the_30_seconds_allocate_nothing_and_keep_small_ints():
    writes, wake_count = run_day(FakeFlash())
    assert wake_count > 1_000 and len(writes) < wake_count // 10  # most wake-ups only deliver
    writes_again, _ = run_day(FakeFlash(), writes)
    assert writes_again == writes
