"""Property: over random prescriptions (daily and weekly), concentrations,
calibrations, start days and run lengths, including a change of
prescription mid-run (daily to weekly and back), midnight and weekday
crossings, the pulses the controller commands never differ from the ideal
cumulative delivery by a whole step. The ideal here is computed
independently, with exact integers, from the step lists alone: its own
rate lookup, its weekdays from the standard library's calendar."""
import datetime

from hypothesis import given, settings, strategies as st

from hw.sim.board import SimBoard
from pump.controller import Controller
from pump.prescription import Prescription
from pump.units import MS_PER_DAY

DAY0 = 9557
ACCEPT = {"override_reason": None, "violations": [], "catheter_suspected": False}


@st.composite
def day_steps(draw, concentration, most=4):
    """1-`most` flex steps at whole-minute starts, each at most 1 mL/h (the flow ceiling)."""
    starts = sorted(draw(st.sets(st.integers(0, 24 * 60 - 1), min_size=1, max_size=most)))
    return [(m * 60_000, draw(st.integers(200, concentration * 1000))) for m in starts]


@st.composite
def schedules(draw, concentration):
    """A daily schedule (steps) or a weekly one (seven lists, up to 13 steps a day)."""
    if draw(st.booleans()):
        return {"steps": draw(day_steps(concentration))}
    return {"week": [draw(day_steps(concentration, draw(st.sampled_from((1, 4, 13))))) for _day in range(7)]}


def program(schedule):
    return Prescription(**schedule)


class Ideal:
    """Exact ideal step count, integrated forward from the run start: an
    integer numerator over concentration x 3.6e9 (steps per ms is
    rate_ng_per_h x steps_per_ml over that)."""

    def __init__(self, spans, steps_per_ml, concentration, start_day, start_ms):
        self.spans, self.steps_per_ml = spans, steps_per_ml
        self.start_day, self.start_ms = start_day, start_ms
        self.den = concentration * 3_600_000_000
        self.t, self.num = 0, 0

    @staticmethod
    def day_of(schedule, day):
        weekday = (datetime.date(2000, 1, 1) + datetime.timedelta(days=day)).weekday()
        return schedule["week"][weekday] if "week" in schedule else schedule["steps"]

    def rate_and_end(self, schedule, day, ms):
        """The rate at (day, ms) and the ms of day where it may next change."""
        steps = sorted(self.day_of(schedule, day))
        rate = sorted(self.day_of(schedule, day - 1))[-1][1]  # the night before runs on
        end = MS_PER_DAY
        for start, step_rate in steps:
            if start <= ms:
                rate = step_rate
            else:
                end = start
                break
        return rate, end

    def at(self, t_ms):
        """Numerator of the ideal at t_ms (calls come in time order)."""
        while self.t < t_ms:
            schedule, span_end = next((rx, end) for start, end, rx in self.spans if start <= self.t < end)
            day, ms = divmod(self.start_ms + self.t, MS_PER_DAY)
            rate, change_ms = self.rate_and_end(schedule, self.start_day + day, ms)
            seg_end = min(t_ms, span_end, self.t + change_ms - ms)
            self.num += rate * self.steps_per_ml * (seg_end - self.t)
            self.t = seg_end
        return self.num


@st.composite
def runs(draw):
    concentration = draw(st.integers(50, 2000))
    return (draw(schedules(concentration)), draw(schedules(concentration)), concentration)


# Derandomized (and without the example database) so CI is repeatable, as the
# sequence test is.
@settings(max_examples=50, deadline=None, derandomize=True, database=None)
@given(run=runs(), steps_per_ml=st.integers(8_000, 20_000), start_day=st.integers(DAY0, DAY0 + 6),
       start_ms=st.integers(0, MS_PER_DAY - 1), hours=st.integers(1, 60), change_fraction=st.floats(0.05, 0.95),
       drift_ppm=st.sampled_from([-2, 0, 2]))
def test_commanded_steps_stay_within_one_step_of_the_ideal(run, steps_per_ml, start_day, start_ms, hours,
                                                          change_fraction, drift_ppm):
    """In real (simulated physical) time, on the board's own wall clock: the
    DS3231 with an unknown phase and a drift within its +-2 ppm, flash
    writes that take their ms. The pump follows the DS3231, so it may run
    ahead of (or behind) real time by the chip's drift, and no more. The
    change of prescription comes at a real time, which on the pump's clock
    is off by the drift at that moment: the old program ran that much
    shorter or longer, and what it gave or missed then stays in the count
    (the pump does not catch up a program it no longer runs). So the slack
    is the drift at the change plus the drift now, at the fastest rate.
    And the board's flash write blocks the CPU for tens of ms: a pulse due
    meanwhile is handed over when it ends, so a lag may grow by the longest
    such stall (measured here as the time the firmware's calls took)."""
    first, second, concentration = run
    board = SimBoard(start_day, start_ms, fill_nl=20_000_000, calibration={"steps_per_ml": steps_per_ml},
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
    rx1, rx2 = program(first), program(second)
    ctl.set_prescription(rx1, ctl.now_s(), ACCEPT)  # the schedule starts at the clock reading, t0
    days, ms0 = divmod(start_ms + t0, MS_PER_DAY)
    ideal = Ideal([(0, change_at - t0, first), (change_at - t0, end - t0 + 1, second)], steps_per_ml, concentration,
                  start_day + days, ms0)
    den = ideal.den
    fastest = max(rate for schedule in (first, second) for day in schedule.get("week", [schedule.get("steps")])
                  for _start, rate in day) * steps_per_ml  # numerator per ms

    def drift_ms(t):  # how far the chip's drift may have moved its clock from real time by t
        return (t - t0) * abs(drift_ppm) // 1_000_000

    def slack(t):  # numerator; + 5 ms for the chip's slew and the tick grain
        at_change = drift_ms(change_at) if t > change_at else 0
        return (drift_ms(t) + at_change + (5 if drift_ppm else 0)) * fastest

    commanded, t, changed, stall = 0, t0, False, 0
    while t < end:
        day, ms = board.clock.now()
        read_t = board.time.t_ms
        wake = ctl.advance(day, ms)
        stall = max(stall, board.time.t_ms - read_t)
        t_next = min(read_t + wake - ms, end)
        if not changed and t_next >= change_at:
            t_next, changed = change_at, True
        t_next = max(t_next, board.time.t_ms)
        for tp, _forward in board.stepper.due_before(t_next):
            board.stepper.emit(True)
            assert ideal.at(tp - t0 - 1) - commanded * den < den + slack(tp) + stall * fastest, \
                "lags by a step at %d ms" % tp
            commanded += 1
            assert commanded * den <= ideal.at(tp - t0) + slack(tp), "ahead of the ideal at %d ms" % tp
        board.time.t_ms = t = t_next
        if t == change_at and changed and ctl.prescription is rx1:
            ctl.advance(*board.clock.now())
            ctl.set_prescription(rx2, ctl.now_s(), ACCEPT)
            stall = max(stall, board.time.t_ms - t)
    assert ideal.at(end - t0) - commanded * den < den + slack(end) + stall * fastest
