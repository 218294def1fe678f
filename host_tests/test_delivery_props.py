"""Property: over random prescriptions, concentrations, calibrations and run
lengths, including a change of prescription mid-run and midnight crossings,
the pulses the controller commands never differ from the ideal cumulative
delivery by a whole step. The ideal here is computed independently, with
exact fractions, from the schedule alone."""
from hypothesis import given, settings, strategies as st

from boards.sim.board import SimBoard
from pump.controller import Controller
from pump.prescription import Prescription
from pump.units import MS_PER_DAY

DAY0 = 9557
ACCEPT = {"override_reason": None, "violations": [], "catheter_suspected": False}


@st.composite
def schedules(draw, concentration):
    """1-4 flex steps at whole-minute starts, each at most 1 mL/h (the flow ceiling)."""
    starts = sorted(draw(st.sets(st.integers(0, 24 * 60 - 1), min_size=1, max_size=4)))
    return [(m * 60_000, draw(st.integers(200, concentration * 1000))) for m in starts]


class Ideal:
    """Exact ideal step count, integrated forward from the run start: an
    integer numerator over concentration x 3.6e9 (steps per ms is
    rate_ng_per_h x steps_per_ml over that)."""

    def __init__(self, spans, steps_per_ml, concentration, start_ms):
        self.spans, self.steps_per_ml, self.start_ms = spans, steps_per_ml, start_ms
        self.den = concentration * 3_600_000_000
        self.t, self.num = 0, 0

    def at(self, t_ms):
        """Numerator of the ideal at t_ms (calls come in time order)."""
        while self.t < t_ms:
            rx = next(rx for start, end, rx in self.spans if start <= self.t < end)
            span_end = next(end for start, end, _rx in self.spans if start <= self.t < end)
            ms_of_day = (self.start_ms + self.t) % MS_PER_DAY
            seg_end = min(t_ms, span_end, self.t + rx.next_change_ms(ms_of_day) - ms_of_day)
            self.num += rx.rate_at(ms_of_day) * self.steps_per_ml * (seg_end - self.t)
            self.t = seg_end
        return self.num


@st.composite
def runs(draw):
    concentration = draw(st.integers(50, 2000))
    return (draw(schedules(concentration)), draw(schedules(concentration)), concentration)


@settings(max_examples=50, deadline=None)
@given(run=runs(), steps_per_ml=st.integers(8_000, 20_000), start_ms=st.integers(0, MS_PER_DAY - 1),
       hours=st.integers(1, 48), change_fraction=st.floats(0.05, 0.95), drift_ppm=st.sampled_from([-2, 0, 2]))
def test_commanded_steps_stay_within_one_step_of_the_ideal(run, steps_per_ml, start_ms, hours, change_fraction,
                                                          drift_ppm):
    """In real (simulated physical) time, on the board's own wall clock: the
    DS3231 with an unknown phase and a drift within its +-2 ppm, flash
    writes that take their ms. The pump follows the DS3231, so it may run
    ahead of real time by the chip's drift, and no more."""
    first, second, concentration = run
    board = SimBoard(DAY0, start_ms, fill_nl=20_000_000, calibration={"steps_per_ml": steps_per_ml},
                     rtc_drift_ppm=drift_ppm)
    board.pressure.read_mpsi = lambda: 200  # a quiet line: this is about timing only
    board.mechanism.reservoir_steps = 10 ** 9  # never run dry: the reservoir has its own tests
    t0 = board.time.t_ms  # the clock has found the DS3231's second edge
    ctl = Controller(board, *board.clock.now())
    ctl.patient = {"origin": "spinal", "age_years": 40, "days_since_implant": 100}
    ctl.refill(20_000_000, concentration, ctl.now_s())
    ctl.reservoir.fill_steps = ctl.reservoir.fill_steps_max = 10 ** 9
    end = t0 + hours * 3_600_000
    change_at = t0 + int(hours * 3_600_000 * change_fraction)
    rx1, rx2 = Prescription(first), Prescription(second)
    ctl.set_prescription(rx1, ctl.now_s(), ACCEPT)  # the schedule starts at the clock reading, t0
    ideal = Ideal([(0, change_at - t0, rx1), (change_at - t0, end - t0 + 1, rx2)], steps_per_ml, concentration,
                  (start_ms + t0) % MS_PER_DAY)
    den = ideal.den
    fastest = max(rate for _start, rate in first + second) * steps_per_ml  # numerator per ms

    def slack(t):  # what the chip's drift may have put the pump ahead or behind by t (numerator)
        return ((t - t0) * abs(drift_ppm) // 1_000_000 + (5 if drift_ppm else 0)) * fastest  # + its slew, tick grain

    commanded, t, changed = 0, t0, False
    while t < end:
        day, ms = board.clock.now()
        read_t = board.time.t_ms
        wake = ctl.advance(day, ms)
        t_next = min(read_t + wake - ms, end)
        if not changed and t_next >= change_at:
            t_next, changed = change_at, True
        t_next = max(t_next, board.time.t_ms)
        for tp, _forward in board.stepper.due_before(t_next):
            board.stepper.emit(True)
            assert ideal.at(tp - t0 - 1) - commanded * den < den + slack(tp), "lags by a step at %d ms" % tp
            commanded += 1
            assert commanded * den <= ideal.at(tp - t0) + slack(tp), "ahead of the ideal at %d ms" % tp
        board.time.t_ms = t = t_next
        if t == change_at and changed and ctl.prescription is rx1:
            ctl.advance(*board.clock.now())
            ctl.set_prescription(rx2, ctl.now_s(), ACCEPT)
    assert ideal.at(end - t0) - commanded * den < den + slack(end)
