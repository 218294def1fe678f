"""Drug library: every monograph row is data, and each limit holds on both sides."""
import json

from pump import clinical, druglib, titration
from pump.clinical import steps_for_daily_dose
from pump.druglib import (BACLOFEN_INTRATHECAL, HARD, SOFT, check_child, check_concentration,
                          check_daily_dose, check_flow_ceiling, check_flow_floor,
                          check_low_reservoir_warning, check_prescription,
                          check_storage_temperature, decide)
from pump.prescription import Prescription
from pump.units import MS_PER_DAY, MS_PER_HOUR

STEPS_PER_ML = 12_732
SPINAL = {"origin": "spinal", "age_years": 40, "days_since_implant": 100}
CEREBRAL = {"origin": "cerebral", "age_years": 40, "days_since_implant": 100}

# The monograph's rows, one name per row, in its order; then the device's
# own policy rows (clinician_bolus: the monograph gives no figure).
MONOGRAPH_ROWS = (
    "standard_concentrations", "maintenance_spinal", "maintenance_cerebral", "children",
    "titration_after_implant", "refill_visit_change", "flow_ceiling", "flow_floor",
    "flex_schedules", "screening_boluses", "starting_dose", "drug_holiday", "abrupt_stop",
    "overdose_response", "catheter_hint", "storage", "pharmacokinetics",
    "clinician_bolus",
)


def patient(origin, age_years):
    return {"origin": origin, "age_years": age_years, "days_since_implant": 100}


def daily(daily_ng):
    return Prescription(steps_for_daily_dose(daily_ng))


def found(violations):
    return sorted((v.rule, v.severity) for v in violations)


def rules_of(violations):
    return sorted(v.rule for v in violations)


def test_every_monograph_row_is_in_the_library():
    assert sorted(BACLOFEN_INTRATHECAL) == sorted(MONOGRAPH_ROWS)


def test_every_row_names_an_existing_checker_or_the_enforcing_module():
    modules = {"druglib": druglib, "titration": titration, "clinical": clinical}
    for name in MONOGRAPH_ROWS:
        row = BACLOFEN_INTRATHECAL[name]
        assert "checked_by" in row or "enforced_by" in row, name
        if "checked_by" in row:
            module, function = row["checked_by"].split(".")
            assert callable(getattr(modules[module], function)), (name, row["checked_by"])


CONCENTRATIONS = (  # (mcg/mL, dilution declared, rule or None)
    (50, False, None), (500, False, None), (2000, False, None),
    (100, False, "concentration_not_standard"), (1000, False, "concentration_not_standard"),
    (49, True, "dilution_below_min"), (50, True, None), (51, True, None), (1000, True, None),
    (1999, True, None), (2000, True, None), (2001, True, "dilution_above_max"),
)


def test_concentration_is_standard_or_a_declared_dilution_within_50_to_2000():
    for conc, declared, rule in CONCENTRATIONS:
        expected = [] if rule is None else [(rule, HARD)]
        assert found(check_concentration(conc, declared)) == expected, (conc, declared)


SPINAL_DOSES = (  # (ng/day, rules broken)
    (11_999, ["daily_dose_below_hard_min", "daily_dose_below_usual"]),
    (12_000, ["daily_dose_below_usual"]),
    (299_999, ["daily_dose_below_usual"]),
    (300_000, []),
    (800_000, []),
    (800_001, ["daily_dose_above_usual"]),
    (1_000_000, ["daily_dose_above_usual"]),
    (1_000_001, ["daily_dose_above_usual", "daily_dose_limited_experience"]),
    (2_003_000, ["daily_dose_above_usual", "daily_dose_limited_experience"]),
    (2_004_000, ["daily_dose_above_hard_max", "daily_dose_above_usual",
                 "daily_dose_limited_experience"]),
)

CEREBRAL_DOSES = (
    (21_999, ["daily_dose_below_hard_min", "daily_dose_below_usual"]),
    (22_000, ["daily_dose_below_usual"]),
    (89_999, ["daily_dose_below_usual"]),
    (90_000, []),
    (703_000, []),
    (703_001, ["daily_dose_above_usual"]),
    (1_400_000, ["daily_dose_above_usual"]),
    (1_400_001, ["daily_dose_above_hard_max", "daily_dose_above_usual"]),
)


def test_spinal_daily_dose_limits_on_both_sides():
    for daily_ng, rules in SPINAL_DOSES:
        assert rules_of(check_daily_dose(daily_ng, SPINAL)) == rules, daily_ng


def test_cerebral_daily_dose_limits_on_both_sides():
    for daily_ng, rules in CEREBRAL_DOSES:
        assert rules_of(check_daily_dose(daily_ng, CEREBRAL)) == rules, daily_ng


def test_only_hard_dose_limits_are_hard():
    for daily_ng, _rules in SPINAL_DOSES + CEREBRAL_DOSES:
        for v in check_daily_dose(daily_ng, SPINAL) + check_daily_dose(daily_ng, CEREBRAL):
            assert v.hard == ("hard" in v.rule), v.rule


def test_spinal_2003_mcg_per_day_passes_and_2004_is_refused_as_a_program():
    ok = check_prescription(daily(2_003_000), SPINAL, 2000, STEPS_PER_ML)
    refused = check_prescription(daily(2_004_000), SPINAL, 2000, STEPS_PER_ML)
    assert not [v for v in ok if v.hard]
    assert [v.rule for v in refused if v.hard] == ["daily_dose_above_hard_max"]
    assert refused[0].limit == 2_003_000 and refused[0].value == 2_004_000


CHILDREN = (  # (age, origin, ng/day, rules from the children row and origin)
    (3, "cerebral", 200_000, ["age_under_min"]),
    (4, "cerebral", 200_000, []),
    (11, "cerebral", 274_000, []),
    (11, "cerebral", 274_001, ["young_child_above_average"]),
    (12, "cerebral", 274_001, []),
    (11, "spinal", 1_500_000, ["daily_dose_above_hard_max", "daily_dose_above_usual", "young_child_above_average"]),
    (12, "spinal", 1_500_000, ["daily_dose_above_usual", "daily_dose_limited_experience"]),  # origin rules from 12
    (17, "spinal", 1_500_000, ["daily_dose_above_usual", "daily_dose_limited_experience"]),
    (17, "cerebral", 1_500_000, ["daily_dose_above_hard_max", "daily_dose_above_usual"]),
    (18, "spinal", 1_500_000, ["daily_dose_above_usual", "daily_dose_limited_experience"]),
    (10, "spinal", 15_000, ["daily_dose_below_hard_min", "daily_dose_below_usual"]),
)


def test_children_rules_at_ages_3_4_11_12_17_18_cerebral_to_11_origin_from_12():
    for age, origin, daily_ng, rules in CHILDREN:
        who = patient(origin, age)
        broken = check_daily_dose(daily_ng, who) + check_child(who, daily_ng)
        assert rules_of(broken) == sorted(rules), (age, origin, daily_ng)


def test_under_4_is_refused_and_under_12_above_average_only_warns():
    assert found(check_child(patient("cerebral", 3), 100_000)) == [("age_under_min", HARD)]
    assert found(check_child(patient("cerebral", 11), 300_000)) == [("young_child_above_average", SOFT)]


def test_unknown_origin_is_refused():
    assert found(check_daily_dose(300_000, patient("lumbar", 40))) == [("origin_unknown", HARD)]


def test_flow_ceiling_is_1_ml_per_h_at_every_standard_concentration():
    for conc in (50, 500, 2000):
        at_ceiling_ng_per_h = 1000 * conc  # 1 mL/h of conc mcg/mL
        assert check_flow_ceiling(at_ceiling_ng_per_h, conc) == []
        assert found(check_flow_ceiling(at_ceiling_ng_per_h + 1, conc)) == [("flow_above_ceiling", HARD)]


def test_flow_above_ceiling_tells_to_use_a_higher_concentration():
    at_ceiling = Prescription([(0, 50_000)])  # 1 mL/h at 50 mcg/mL, 1200 mcg/day
    above = Prescription([(0, 50_001)])
    assert "flow_above_ceiling" not in rules_of(check_prescription(at_ceiling, SPINAL, 50, STEPS_PER_ML))
    ceiling = [v for v in check_prescription(above, SPINAL, 50, STEPS_PER_ML) if v.rule == "flow_above_ceiling"]
    assert len(ceiling) == 1 and "use a higher concentration" in ceiling[0].message
    assert ceiling[0].limit == 1_000_000 and ceiling[0].value == 1_000_020


FLOORS = (  # (mcg/mL, lowest rate in ng/h making one 1/12732 mL step per hour)
    (2000, 158), (500, 40), (50, 4),
)


def test_flow_floor_is_one_motor_step_per_hour():
    for conc, lowest in FLOORS:
        assert check_flow_floor(lowest, conc, STEPS_PER_ML) == [], conc
        assert found(check_flow_floor(lowest - 1, conc, STEPS_PER_ML)) == [("flow_below_floor", HARD)], conc


def test_flow_floor_applies_to_every_flex_step():
    night_too_slow = Prescription([(0, 157), (6 * MS_PER_HOUR, 100_000)])
    assert "flow_below_floor" in rules_of(check_prescription(night_too_slow, SPINAL, 2000, STEPS_PER_ML))


def test_monograph_typical_and_smallest_doses_pass_the_floor():
    typical_ng_per_h = 12_500  # 0.025 mL/h at 500 mcg/mL
    smallest_ng_per_h = 500    # 12 mcg/day at 2000 mcg/mL
    assert check_flow_floor(typical_ng_per_h, 500, STEPS_PER_ML) == []
    assert check_flow_floor(smallest_ng_per_h, 2000, STEPS_PER_ML) == []


MALFORMED = (  # (steps, rules)
    ([], ["schedule_empty"]),
    ([(0, 30_000), (0, 20_000)], ["step_duplicate_start"]),
    ([(0, 0)], ["step_rate_not_positive"]),
    ([(0, -30_000)], ["step_rate_not_positive"]),
    ([(0, 30_000), (MS_PER_DAY, 20_000)], ["step_start_outside_day"]),
    ([(0, 30_000), (7 * MS_PER_HOUR, 0), (7 * MS_PER_HOUR, 20_000)],
     ["step_duplicate_start", "step_rate_not_positive"]),
)


def test_malformed_schedules_are_refused_with_every_fault_named():
    for steps, rules in MALFORMED:
        broken = check_prescription(Prescription(steps), SPINAL, 500, STEPS_PER_ML)
        assert rules_of(broken) == sorted(rules), steps
        assert all(v.hard and v.message for v in broken)


def test_daily_dose_must_be_a_whole_ng():
    half_hour = 30 * 60_000
    fractional = Prescription([(0, 30_001), (half_hour, 30_000)])  # 720 000.5 ng/day
    whole = Prescription([(0, 30_002), (half_hour, 30_000)])       # 720 001 ng/day
    assert found(check_prescription(fractional, SPINAL, 500, STEPS_PER_ML)) == [("daily_dose_not_whole_ng", HARD)]
    assert check_prescription(whole, SPINAL, 500, STEPS_PER_ML) == []


def test_flex_schedule_has_at_most_13_steps_a_day():
    def every(minutes, count):
        return [(i * minutes * 60_000, 30_000) for i in range(count)]
    assert check_prescription(Prescription(every(60, 13)), SPINAL, 500, STEPS_PER_ML) == []
    assert found(check_prescription(Prescription(every(60, 14)), SPINAL, 500, STEPS_PER_ML)) == [
        ("flex_too_many_steps", HARD)]
    week = [every(60, 13)] * 7
    assert check_prescription(Prescription(week=week), SPINAL, 500, STEPS_PER_ML) == []
    week[4] = every(60, 14)
    broken = check_prescription(Prescription(week=week), SPINAL, 500, STEPS_PER_ML)
    assert [(v.rule, v.message[:5]) for v in broken] == [("flex_too_many_steps", "fri: ")]


def test_higher_night_doses_are_allowed():
    night = Prescription([(0, 40_000), (7 * MS_PER_HOUR, 20_000), (22 * MS_PER_HOUR, 40_000)])
    assert check_prescription(night, SPINAL, 500, STEPS_PER_ML) == []


def test_all_violations_are_reported_not_just_the_first():
    broken = check_prescription(daily(2_004_000), patient("spinal", 3), 100, STEPS_PER_ML)
    assert rules_of(broken) == sorted(["concentration_not_standard", "age_under_min",
                                       "daily_dose_above_hard_max", "daily_dose_above_usual",
                                       "young_child_above_average"])


def test_each_violation_carries_rule_limit_value_and_severity_as_json():
    v = check_daily_dose(2_004_000, SPINAL)[0]
    record = json.loads(json.dumps(v.to_record()))
    assert record == {"rule": "daily_dose_above_hard_max", "severity": "hard", "limit": 2_003_000,
                      "value": 2_004_000, "unit": "ng/day", "message": v.message}
    assert "2004 mcg/day" in v.message and "2003 mcg/day" in v.message


def test_storage_temperature_is_2_to_30_c():
    table = ((1_999, "storage_too_cold"), (2_000, None), (30_000, None), (30_001, "storage_too_hot"))
    for mdeg_c, rule in table:
        assert rules_of(check_storage_temperature(mdeg_c)) == ([] if rule is None else [rule]), mdeg_c


def test_low_reservoir_warning_leaves_at_least_3_days_for_a_refill_visit():
    three_days_s = 3 * 86_400
    assert check_low_reservoir_warning(three_days_s) == []
    assert found(check_low_reservoir_warning(three_days_s - 1)) == [("low_reservoir_warning_too_late", HARD)]


SOFT_HIGH = check_daily_dose(900_000, SPINAL)
HARD_HIGH = check_daily_dose(2_004_000, SPINAL)
DECISIONS = (  # (violations, override reason, verdict, accepted)
    ([], None, "accepted", True),
    (SOFT_HIGH, None, "needs_override", False),
    (SOFT_HIGH, "   ", "needs_override", False),
    (SOFT_HIGH, "severe spasticity, reviewed", "overridden", True),
    (HARD_HIGH, "severe spasticity, reviewed", "refused", False),
)


def test_hard_refuses_and_soft_needs_a_reason():
    for violations, reason, verdict, accepted in DECISIONS:
        record = decide(violations, reason)
        assert (record["verdict"], record["accepted"]) == (verdict, accepted), (reason, verdict)


def test_decision_record_keeps_the_override_reason_for_the_event_log():
    record = decide(SOFT_HIGH, "  severe spasticity ")
    assert record["override_reason"] == "severe spasticity"
    assert [v["rule"] for v in record["violations"]] == ["daily_dose_above_usual"]
    assert json.loads(json.dumps(record)) == record


def test_overridden_escalation_raises_the_catheter_hint_and_other_overrides_do_not():
    history = titration.TitrationHistory()
    history.record_implant(0, 300_000)
    escalation = titration.check_change(history, SPINAL, 400_000, 10 * 86_400)
    assert decide(escalation, "no effect")["catheter_suspected"] is True
    assert decide(escalation)["catheter_suspected"] is False
    assert decide(SOFT_HIGH, "reviewed")["catheter_suspected"] is False
