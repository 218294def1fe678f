"""Property: no sequence of accepted prescription changes and boluses reaches a
state that breaks a hard limit, whatever is asked and whatever overrides are given.

The changes are driven through the real checks (druglib.check_prescription,
titration.check_change/check_bolus, druglib.decide) with a simulated clock;
the history is persisted as JSON between actions, as the controller does. The
oracle restates the monograph's hard limits here, independently of druglib's
table, so a wrong number in the table fails this test; it also checks that
every overridden escalation above the titration band carries the catheter hint.
"""
import json

from hypothesis import given, settings, strategies as st

from pump.clinical import steps_for_daily_dose
from pump.druglib import check_prescription, decide
from pump.prescription import Prescription
from pump.titration import (BOLUS_KINDS, CLINICIAN, KINDS, REFILL, REMAINDER, RESTART, SCREENING, TAPER,
                            TITRATION, TitrationHistory, check_bolus, check_change)

DAY_S = 86_400
START_S = 800_000_000
STEPS_PER_ML = 12_732
REASON = "clinician override, reviewed"

# Oracle: the monograph table of docs/DESIGN.md (section 5), restated.
HARD_DAILY_NG = {"spinal": (12_000, 2_003_000), "cerebral": (22_000, 1_400_000)}
TITRATION_MAX_PCT = {"spinal": 30, "cerebral": 15}
SCREENING_NG = (50_000, 75_000, 100_000)


CLINICIAN_BOLUS_MAX_NG = 100_000  # the device's policy row, restated
TAPER_MIN_DAYS = 14


def oracle_origin(patient):
    """Children 4-11 take the cerebral rows; from 12, the patient's origin."""
    return "cerebral" if patient["age_years"] < 12 else patient["origin"]


BOUNDARIES_NG = (12_000, 22_000, 274_000, 1_400_000, 2_003_000)
CONCENTRATIONS = (50, 500, 2000)

# Hypothesis favours the low end of an integer range and draws the branches
# of one_of and the items of sampled_from evenly. So ranges are split where
# the rules change, and repetition weights what most paths need (an
# override, an ordinary kind of change).
patients = st.fixed_dictionaries({
    "origin": st.sampled_from(["spinal", "cerebral"]),
    "age_years": st.sampled_from([3, 4, 11, 12, 17, 18, 30, 45, 60, 85]),
    "days_since_implant": st.just(0),
})
daily_doses = st.one_of(
    st.integers(1_000, 300_000), st.integers(300_000, 1_400_000),
    st.integers(1_400_000, 2_003_000), st.integers(2_003_000, 2_600_000),
    st.sampled_from(BOUNDARIES_NG).flatmap(lambda b: st.integers(b - 1500, b + 1500)))
# One hour at an odd rate: near the 1 mL/h ceiling or near the one-step floor.
odd_hour_rates = st.one_of(
    st.none(), st.none(),
    st.sampled_from(CONCENTRATIONS).flatmap(lambda c: st.integers(1000 * c - 2000, 1000 * c + 60_000)),
    st.integers(1, 300))
programs = st.tuples(daily_doses, odd_hour_rates)
overrides = st.sampled_from([None, REASON, REASON])
kinds = st.sampled_from([TITRATION, TITRATION, REFILL] + list(KINDS))
# Waits cluster around the 24 h rules as well as spanning days.
waits = st.one_of(
    st.sampled_from([60, 3_600, 6 * 3_600, DAY_S - 1, DAY_S, 2 * DAY_S, 7 * DAY_S]),
    st.integers(DAY_S - 3_600, DAY_S + 60))
percent_steps = st.one_of(
    st.integers(-60, 80),
    st.sampled_from([-21, -20, -10, -9, 4, 5, 9, 10, 15, 16, 20, 21, 30, 31, 40, 41]))
# The first program, at implant: ordinary doses, so most runs get going.
initial_programs = st.tuples(st.sampled_from([30_000, 100_000, 300_000, 600_000, 1_000_000, 1_300_000]), st.none())
actions = st.lists(st.one_of(
    st.tuples(st.just("wait"), waits),
    st.tuples(st.just("step"), percent_steps, kinds, overrides),
    st.tuples(st.just("program"), programs, kinds, overrides),
    st.tuples(st.just("bolus"), st.sampled_from([25_000, 50_000, 75_000, 100_000, 150_000]),
              st.sampled_from(BOLUS_KINDS + (CLINICIAN,)), st.sampled_from([30, 59, 60, 600]), overrides),
), min_size=8, max_size=40)


def schedule(program):
    """Steps delivering daily_ng a day, one hour of it at the odd rate if it fits."""
    daily_ng, odd_rate = program
    rest_ng = daily_ng - (odd_rate or 0)
    if odd_rate is None or rest_ng < 23:
        return steps_for_daily_dose(daily_ng)
    rate = rest_ng // 23
    return [(0, rate), (22 * 3_600_000, rate + rest_ng - 23 * rate), (23 * 3_600_000, odd_rate)]


class Pump:
    """The state the controller would keep, plus a log of what was accepted."""

    def __init__(self, patient, concentration, initial_steps):
        self.patient = patient
        self.concentration = concentration
        self.now_s = START_S
        self.history = TitrationHistory()
        self.initial_ng = None
        self.accepted = []  # (kind, time_s, old_ng, new_ng, decision)
        self.boluses = []   # (time_s, dose_ng, kind, duration_s, basal_ng)
        self.program(initial_steps, None, REASON)

    def program(self, steps, kind, reason):
        prescription = Prescription(steps)
        new_ng = prescription.daily_ng()
        violations = check_prescription(prescription, self.patient, self.concentration, STEPS_PER_ML)
        if kind is not None:
            violations += check_change(self.history, self.patient, new_ng, self.now_s, kind)
        decision = decide(violations, reason)
        if not decision["accepted"]:
            return
        if kind is None:
            self.history.record_implant(self.now_s, new_ng)
            self.initial_ng = new_ng
        else:
            self.accepted.append((kind, self.now_s, self.history.dose_ng, new_ng, decision))
            self.history.record_change(new_ng, self.now_s, kind)
        self.assert_program_within_hard_limits(prescription)

    def bolus(self, dose_ng, kind, duration_s, reason):
        basal_ng = self.history.dose_ng
        found = check_bolus(self.history, self.patient, dose_ng, self.now_s, kind, duration_s, basal_ng,
                            self.concentration)
        if decide(found, reason)["accepted"]:
            self.history.record_bolus(dose_ng, self.now_s, kind, duration_s)
            self.boluses.append((self.now_s, dose_ng, kind, duration_s, basal_ng))

    def persist(self):
        self.history = TitrationHistory.from_record(json.loads(json.dumps(self.history.to_record())))

    def assert_program_within_hard_limits(self, prescription):
        low_ng, high_ng = HARD_DAILY_NG[oracle_origin(self.patient)]
        assert self.patient["age_years"] >= 4
        assert low_ng <= prescription.daily_ng() <= high_ng
        assert prescription.day_ng_x_ms(0) % 3_600_000 == 0
        for _start, rate in prescription.steps:
            assert rate * 1000 <= 1_000_000 * self.concentration           # <= 1 mL/h
            assert rate * 1000 * STEPS_PER_ML >= 1_000_000 * self.concentration  # >= 1 step/h


def run(patient, concentration, initial_steps, steps):
    pump = Pump(patient, concentration, initial_steps)
    for action in steps:
        if action[0] == "wait":
            pump.now_s += action[1]
        elif action[0] == "step":
            _, pct, kind, reason = action
            if pump.history.dose_ng is not None:
                pump.program(steps_for_daily_dose(pump.history.dose_ng * (100 + pct) // 100), kind, reason)
        elif action[0] == "program":
            _, program, kind, reason = action
            pump.program(schedule(program), kind, reason)
        else:
            pump.bolus(*action[1:])
        pump.persist()
    return pump


def assert_history_within_hard_limits(pump):
    implant_s = pump.history.implant_s
    last_increase_s = None
    previous_kind = None
    band_pct = TITRATION_MAX_PCT[oracle_origin(pump.patient)]
    taper_from = None
    for kind, time_s, old_ng, new_ng, decision in pump.accepted:
        if kind == TAPER and new_ng < old_ng:
            if taper_from is None:
                taper_from = (time_s, old_ng)
            start_s, from_ng = taper_from
            day = min(1 + (time_s - start_s) // DAY_S, TAPER_MIN_DAYS)
            floor_ng = HARD_DAILY_NG[oracle_origin(pump.patient)][0]
            if new_ng * TAPER_MIN_DAYS < floor_ng * TAPER_MIN_DAYS + (from_ng - floor_ng) * (TAPER_MIN_DAYS - day) - TAPER_MIN_DAYS:
                assert decision["override_reason"], "a taper faster than 14 days without a reason"
        elif kind != TAPER:
            taper_from = None
        if new_ng > old_ng:
            assert kind != TAPER
            assert time_s - implant_s >= DAY_S
            assert last_increase_s is None or time_s - last_increase_s >= DAY_S
            last_increase_s = time_s
            if kind == RESTART:
                assert previous_kind == TAPER and new_ng <= pump.initial_ng
            if kind == TITRATION and (new_ng - old_ng) * 100 > old_ng * band_pct:
                assert decision["override_reason"] and decision["catheter_suspected"]
        previous_kind = kind
    # the implant is the first accepted program: screening before it, clinician boluses after
    # it; a remainder only after a cut, which this walk never makes
    screening = [b for b in pump.boluses if b[2] == SCREENING]
    assert len(screening) <= len(SCREENING_NG)
    for i, (time_s, dose_ng, kind, duration_s, basal_ng) in enumerate(screening):
        assert implant_s is None and pump.concentration == 50 and pump.patient["age_years"] >= 4
        assert duration_s >= 60 and dose_ng <= SCREENING_NG[i]
        assert i == 0 or time_s - screening[i - 1][0] >= DAY_S
    for time_s, dose_ng, kind, duration_s, basal_ng in pump.boluses:
        if kind == SCREENING:
            continue
        assert kind == CLINICIAN and duration_s >= 60 and dose_ng <= CLINICIAN_BOLUS_MAX_NG
        assert time_s - implant_s >= DAY_S
        day_ng = basal_ng + sum(ng for t, ng, _k, _d, _b in pump.boluses if time_s - DAY_S < t <= time_s)
        assert day_ng <= HARD_DAILY_NG[oracle_origin(pump.patient)][1]


@settings(max_examples=1000, deadline=None)
@given(patients, st.sampled_from(CONCENTRATIONS), initial_programs, actions)
def test_no_accepted_sequence_breaks_a_hard_limit(patient, concentration, initial, steps):
    assert_history_within_hard_limits(run(patient, concentration, schedule(initial), steps))


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(["spinal", "cerebral"]), st.integers(0, 40))
def test_a_titration_at_the_band_edge_every_day_is_accepted_without_catheter_hint(origin, days):
    """Guards the property above against passing by refusing everything."""
    pump = Pump({"origin": origin, "age_years": 40, "days_since_implant": 0}, 2000, steps_for_daily_dose(100_000))
    edge_pct = TITRATION_MAX_PCT[origin]
    for _ in range(days):
        pump.now_s += DAY_S
        new_ng = pump.history.dose_ng * (100 + edge_pct) // 100
        if new_ng > HARD_DAILY_NG[origin][1]:
            break
        pump.program(steps_for_daily_dose(new_ng), TITRATION, REASON)
        assert pump.history.dose_ng == new_ng
        assert not pump.accepted[-1][4]["catheter_suspected"]
