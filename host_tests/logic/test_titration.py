"""Titration: changes and screening boluses checked against the history they follow."""
import json

from pump.druglib import HARD, SOFT, decide
from pump.titration import (CLINICIAN, REFILL, REMAINDER, RESTART, SCREENING, TAPER, TITRATION,
                            TitrationHistory, check_bolus, check_change)

DAY_S = 86_400
IMPLANT_S = 800_000_000
LATER_S = IMPLANT_S + 30 * DAY_S  # long after implant and any increase
SPINAL = {"origin": "spinal", "age_years": 40, "days_since_implant": 30}
CEREBRAL = {"origin": "cerebral", "age_years": 40, "days_since_implant": 30}
CHILD_SPINAL = {"origin": "spinal", "age_years": 10, "days_since_implant": 30}


def implanted(initial_ng=300_000):
    history = TitrationHistory()
    history.record_implant(IMPLANT_S, initial_ng)
    return history


def found(violations):
    return sorted((v.rule, v.severity) for v in violations)


def rules_of(violations):
    return sorted(v.rule for v in violations)


def test_increase_in_the_first_24_h_after_implant_is_refused():
    history = implanted()
    assert found(check_change(history, SPINAL, 360_000, IMPLANT_S + DAY_S - 1)) == [
        ("increase_too_soon_after_implant", HARD)]
    assert check_change(history, SPINAL, 360_000, IMPLANT_S + DAY_S) == []


def test_titration_refuses_second_increase_within_24_h():
    history = implanted()
    first_s = IMPLANT_S + 2 * DAY_S
    history.record_change(360_000, first_s)
    assert found(check_change(history, SPINAL, 420_000, first_s + DAY_S - 1)) == [
        ("increase_too_soon_after_increase", HARD)]
    assert check_change(history, SPINAL, 420_000, first_s + DAY_S) == []


def test_a_decrease_or_a_reshaping_is_not_an_increase_and_may_come_any_time():
    history = implanted()
    assert check_change(history, SPINAL, 255_000, IMPLANT_S + 1) == []   # -15 %
    assert check_change(history, SPINAL, 300_000, IMPLANT_S + 1) == []   # same daily dose


INCREASE_BANDS = (  # (patient, new ng/day from 300 000, rules)
    (SPINAL, 329_999, [("titration_increase_below_band", SOFT)]),
    (SPINAL, 330_000, []),   # +10 %
    (SPINAL, 390_000, []),   # +30 %
    (SPINAL, 390_001, [("titration_increase_above_band", SOFT)]),
    (CEREBRAL, 314_999, [("titration_increase_below_band", SOFT)]),
    (CEREBRAL, 315_000, []),  # +5 %
    (CEREBRAL, 345_000, []),  # +15 %
    (CEREBRAL, 345_001, [("titration_increase_above_band", SOFT)]),
    (CHILD_SPINAL, 360_000, [("titration_increase_above_band", SOFT)]),  # children: cerebral band
)


def test_titration_increase_is_within_10_30_pct_spinal_and_5_15_pct_cerebral():
    for who, new_ng, expected in INCREASE_BANDS:
        assert found(check_change(implanted(), who, new_ng, LATER_S)) == expected, (who["origin"], new_ng)


def test_percentage_shown_is_rounded_away_from_the_limit():
    above = check_change(implanted(), SPINAL, 390_001, LATER_S)[0]
    below = check_change(implanted(), SPINAL, 329_999, LATER_S)[0]
    assert (above.limit, above.value, above.unit) == (30, 31, "%")
    assert (below.limit, below.value) == (10, 9)


REFILL_INCREASES = (
    (SPINAL, 420_000, []),   # +40 %
    (SPINAL, 420_001, [("refill_increase_above_limit", SOFT)]),
    (SPINAL, 303_000, []),   # +1 %: no lower bound at a visit
    (CEREBRAL, 360_000, []),  # +20 %
    (CEREBRAL, 360_001, [("refill_increase_above_limit", SOFT)]),
)


def test_refill_visit_increase_is_at_most_40_pct_spinal_and_20_pct_cerebral():
    for who, new_ng, expected in REFILL_INCREASES:
        assert found(check_change(implanted(), who, new_ng, LATER_S, REFILL)) == expected, new_ng


def test_refill_visit_increase_still_waits_24_h_after_the_last():
    history = implanted()
    history.record_change(330_000, LATER_S)
    assert rules_of(check_change(history, SPINAL, 400_000, LATER_S + DAY_S - 1, REFILL)) == [
        "increase_too_soon_after_increase"]


DECREASES = (  # (new ng/day from 300 000, rules)
    (270_001, [("decrease_below_band", SOFT)]),
    (270_000, []),  # -10 %
    (240_000, []),  # -20 %
    (239_999, [("decrease_above_band", SOFT)]),
)


def test_decrease_outside_10_20_pct_needs_an_override_at_visits_and_between():
    for kind in (TITRATION, REFILL):
        for new_ng, expected in DECREASES:
            assert found(check_change(implanted(), SPINAL, new_ng, LATER_S, kind)) == expected, (kind, new_ng)


def test_sudden_escalation_is_refused_without_override_and_flagged_with_one():
    escalation = check_change(implanted(), SPINAL, 600_000, LATER_S)
    refused = decide(escalation)
    overridden = decide(escalation, "no response at 300 mcg")
    assert (refused["accepted"], refused["catheter_suspected"]) == (False, False)
    assert (overridden["accepted"], overridden["catheter_suspected"]) == (True, True)


def test_taper_never_increases():
    assert found(check_change(implanted(), SPINAL, 310_000, LATER_S, TAPER)) == [("taper_increase", HARD)]


def test_taper_step_is_no_faster_than_the_shortest_taper_the_row_allows():
    """From 300 to the spinal floor 12 mcg/day over 14 days: day 1 may go to
    12 + 288 x 13/14 = 279.428 mcg/day, day 2 to 258.857; faster needs a reason."""
    history = implanted()
    assert check_change(history, SPINAL, 279_428, LATER_S, TAPER) == []
    assert found(check_change(history, SPINAL, 279_427, LATER_S, TAPER)) == [("taper_step_too_fast", SOFT)]
    assert found(check_change(history, SPINAL, 114_000, LATER_S, TAPER)) == [("taper_step_too_fast", SOFT)]  # -62 %
    history.record_change(279_428, LATER_S, TAPER)
    # the same day again: the bound is still day 1's, from where the taper began
    assert found(check_change(history, SPINAL, 270_000, LATER_S + 3_600, TAPER)) == [("taper_step_too_fast", SOFT)]
    assert check_change(history, SPINAL, 258_857, LATER_S + DAY_S, TAPER) == []
    assert found(check_change(history, SPINAL, 258_856, LATER_S + DAY_S, TAPER)) == [("taper_step_too_fast", SOFT)]
    assert check_change(history, SPINAL, 12_000, LATER_S + 13 * DAY_S, TAPER) == []


def test_restart_after_a_taper_goes_back_to_at_most_the_initial_dose():
    history = implanted(200_000)
    history.record_change(400_000, LATER_S)
    history.record_change(12_000, LATER_S + 20 * DAY_S, TAPER)
    history.record_change(12_000, LATER_S + 20 * DAY_S, TAPER)
    restart_s = LATER_S + 30 * DAY_S
    assert check_change(history, SPINAL, 200_000, restart_s, RESTART) == []
    assert found(check_change(history, SPINAL, 200_001, restart_s, RESTART)) == [
        ("restart_above_initial_dose", HARD)]


def test_restart_without_a_taper_is_refused():
    history = implanted(200_000)
    history.record_change(180_000, LATER_S)
    assert rules_of(check_change(history, SPINAL, 200_000, LATER_S + 2 * DAY_S, RESTART)) == [
        "restart_without_taper"]


def test_unknown_change_kind_and_missing_implant_are_refused():
    assert found(check_change(implanted(), SPINAL, 330_000, LATER_S, "bump")) == [("change_kind_unknown", HARD)]
    assert found(check_change(TitrationHistory(), SPINAL, 330_000, LATER_S)) == [("implant_not_recorded", HARD)]


def test_restart_needs_the_recorded_starting_dose_not_the_first_dose_seen():
    """A patient implanted 300 days ago meets this pump at 600 mcg/day: that
    is not their post-implant starting dose, so a restart has no target
    until the patient's record gives it."""
    history = TitrationHistory.for_patient(dict(SPINAL, days_since_implant=300), LATER_S)
    history.record_first_program(600_000, LATER_S)
    history.record_change(560_000, LATER_S + DAY_S, TAPER)
    assert history.initial_ng is None
    assert rules_of(check_change(history, SPINAL, 600_000, LATER_S + 2 * DAY_S, RESTART)) == [
        "restart_dose_not_recorded"]
    recorded = TitrationHistory.for_patient(dict(SPINAL, days_since_implant=300), LATER_S, 200_000)
    recorded.record_first_program(600_000, LATER_S)
    recorded.record_change(560_000, LATER_S + DAY_S, TAPER)
    assert check_change(recorded, SPINAL, 200_000, LATER_S + 2 * DAY_S, RESTART) == []


def test_the_first_program_on_the_implant_day_is_the_starting_dose():
    history = TitrationHistory.for_patient(dict(SPINAL, days_since_implant=0), LATER_S)
    history.record_first_program(100_000, LATER_S + 3_600)
    assert history.initial_ng == 100_000


def test_history_for_a_patient_dates_the_implant_by_days_since():
    today = dict(SPINAL, days_since_implant=0)
    yesterday = dict(SPINAL, days_since_implant=1)
    now_s = LATER_S
    for who, rules in ((today, ["increase_too_soon_after_implant"]), (yesterday, [])):
        history = TitrationHistory.for_patient(who, now_s)
        history.record_first_program(300_000, now_s)
        assert rules_of(check_change(history, SPINAL, 330_000, now_s)) == rules
    assert TitrationHistory.for_patient(dict(SPINAL, days_since_implant=None), now_s).implant_s is None


def test_history_survives_a_json_round_trip():
    history = implanted()
    history.record_bolus(50_000, IMPLANT_S - 3 * DAY_S, SCREENING, 60)
    history.record_bolus(40_000, LATER_S - 60, CLINICIAN, 120)
    history.cut_bolus(LATER_S)
    history.record_change(330_000, LATER_S)
    history.record_change(12_000, LATER_S + DAY_S, TAPER)
    record = history.to_record()
    again = TitrationHistory.from_record(json.loads(json.dumps(record)))
    assert again.to_record() == record


def test_implant_needs_a_positive_initial_dose():
    try:
        TitrationHistory().record_implant(IMPLANT_S, 0)
    except ValueError:
        return
    assert False, "a zero initial dose was accepted"


TRIAL = dict(SPINAL, days_since_implant=None)
BASAL_NG = 300_000


def bolus(history, dose_ng, now_s, kind=SCREENING, duration_s=60, concentration=50, who=SPINAL):
    return check_bolus(history, who, dose_ng, now_s, kind, duration_s, BASAL_NG, concentration)


def test_screening_boluses_are_50_75_100_mcg_each_24_h_after_the_last():
    history = TitrationHistory()
    t_s = IMPLANT_S - 10 * DAY_S
    for dose_ng in (50_000, 75_000, 100_000):
        assert bolus(history, dose_ng, t_s) == [], dose_ng
        history.record_bolus(dose_ng, t_s, SCREENING)
        t_s += DAY_S
    assert found(bolus(history, 100_000, t_s)) == [("screening_complete", HARD)]


def test_screening_bolus_within_24_h_of_the_last_is_refused():
    history = TitrationHistory()
    history.record_bolus(50_000, IMPLANT_S, SCREENING)
    assert found(bolus(history, 75_000, IMPLANT_S + DAY_S - 1)) == [("bolus_too_soon", HARD)]
    assert bolus(history, 75_000, IMPLANT_S + DAY_S) == []


def test_screening_bolus_above_the_sequence_is_refused_and_below_needs_a_reason():
    assert found(bolus(TitrationHistory(), 75_000, IMPLANT_S)) == [("bolus_above_sequence", HARD)]
    assert found(bolus(TitrationHistory(), 25_000, IMPLANT_S)) == [("bolus_below_sequence", SOFT)]


def test_screening_is_before_implant_at_50_mcg_per_ml_over_at_least_a_minute():
    assert found(bolus(implanted(), 50_000, LATER_S)) == [("screening_after_implant", HARD)]
    assert found(bolus(TitrationHistory(), 50_000, LATER_S, concentration=500)) == [("screening_concentration", HARD)]
    assert found(bolus(TitrationHistory(), 50_000, LATER_S, duration_s=59)) == [("bolus_too_fast", HARD)]
    assert bolus(TitrationHistory(), 50_000, LATER_S, duration_s=60) == []


def test_clinician_bolus_waits_24_h_after_implant_and_is_at_most_100_mcg():
    history = implanted()
    assert found(bolus(history, 20_000, IMPLANT_S + 1800, CLINICIAN)) == [("bolus_too_soon_after_implant", HARD)]
    assert bolus(history, 20_000, IMPLANT_S + DAY_S, CLINICIAN) == []
    assert ("bolus_above_max", HARD) in found(bolus(history, 100_001, LATER_S, CLINICIAN, who=dict(SPINAL)))
    assert found(bolus(TitrationHistory(), 20_000, LATER_S, CLINICIAN)) == [("bolus_before_implant", HARD)]
    assert found(bolus(history, 20_000, LATER_S, CLINICIAN, duration_s=30)) == [("bolus_too_fast", HARD)]


def test_clinician_boluses_in_24_h_count_with_the_basal_and_past_a_titration_step_need_a_reason():
    """300 mcg/day spinal basal: 90 mcg of bolus in 24 h is the 30 % step."""
    history = implanted()
    history.record_bolus(60_000, LATER_S, CLINICIAN)
    assert bolus(history, 30_000, LATER_S + 3_600, CLINICIAN) == []
    assert found(bolus(history, 30_001, LATER_S + 3_600, CLINICIAN)) == [("boluses_above_titration_step", SOFT)]
    assert bolus(history, 90_000, LATER_S + DAY_S, CLINICIAN) == []  # the first has left the window
    high = check_bolus(history, SPINAL, 100_000, LATER_S + 3_600, CLINICIAN, 60, 1_950_000, 2000)
    assert ("daily_dose_above_hard_max", HARD) in found(high)  # 1950 + 60 + 100 > 2003 mcg/day


def test_at_most_four_clinician_boluses_in_24_h():
    history = implanted(2_000_000)
    for i in range(4):
        assert bolus(history, 1, LATER_S + i * 600, CLINICIAN) == []
        history.record_bolus(1, LATER_S + i * 600, CLINICIAN)
    assert found(bolus(history, 1, LATER_S + 3_000, CLINICIAN)) == [("boluses_per_day", HARD)]
    assert bolus(history, 1, LATER_S + DAY_S, CLINICIAN) == []  # the first has left the window
    history.record_bolus(1, LATER_S + DAY_S, CLINICIAN)
    assert len(history.boluses) == 4  # what the state record keeps stays bounded


def test_a_cut_bolus_leaves_a_remainder_that_is_not_too_soon():
    history = TitrationHistory()
    history.record_bolus(50_000, IMPLANT_S, SCREENING, 100)
    assert history.cut_bolus(IMPLANT_S + 30) == (15_000, 35_000)  # what went in is rounded up
    assert bolus(history, 35_000, IMPLANT_S + 600, REMAINDER) == []
    assert found(bolus(history, 35_001, IMPLANT_S + 600, REMAINDER)) == [("remainder_above_undelivered", HARD)]
    history.record_bolus(35_000, IMPLANT_S + 600, REMAINDER, 100)
    assert history.cut_bolus(IMPLANT_S + 800) is None  # the remainder ran to its end
    assert found(bolus(history, 1, IMPLANT_S + 900, REMAINDER)) == [("remainder_above_undelivered", HARD)]
    assert found(bolus(history, 75_000, IMPLANT_S + 900)) == [("bolus_too_soon", HARD)]  # still one bolus
