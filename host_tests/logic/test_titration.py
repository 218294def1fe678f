"""Titration: changes and screening boluses checked against the history they follow."""
import json

from pump.druglib import HARD, SOFT, decide
from pump.titration import (REFILL, RESTART, TAPER, TITRATION, TitrationHistory, check_bolus,
                            check_change)

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


def test_taper_decreases_freely_but_never_increases():
    history = implanted()
    assert check_change(history, SPINAL, 150_000, LATER_S, TAPER) == []
    assert found(check_change(history, SPINAL, 310_000, LATER_S, TAPER)) == [("taper_increase", HARD)]


def test_restart_after_a_taper_goes_back_to_at_most_the_initial_dose():
    history = implanted(200_000)
    history.record_change(400_000, LATER_S)
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


def test_history_from_a_patient_dates_the_implant_by_days_since():
    today = dict(SPINAL, days_since_implant=0)
    yesterday = dict(SPINAL, days_since_implant=1)
    now_s = LATER_S
    assert rules_of(check_change(TitrationHistory.from_patient(today, now_s, 300_000), SPINAL, 330_000, now_s)) == [
        "increase_too_soon_after_implant"]
    assert check_change(TitrationHistory.from_patient(yesterday, now_s, 300_000), SPINAL, 330_000, now_s) == []


def test_history_survives_a_json_round_trip():
    history = implanted()
    history.record_bolus(50_000, IMPLANT_S - 3 * DAY_S)
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


def test_screening_boluses_are_50_75_100_mcg_each_24_h_after_the_last():
    history = TitrationHistory()
    t_s = IMPLANT_S - 10 * DAY_S
    for dose_ng in (50_000, 75_000, 100_000):
        assert check_bolus(history, dose_ng, t_s) == [], dose_ng
        history.record_bolus(dose_ng, t_s)
        t_s += DAY_S
    assert found(check_bolus(history, 100_000, t_s)) == [("screening_complete", HARD)]


def test_screening_bolus_within_24_h_of_the_last_is_refused():
    history = TitrationHistory()
    history.record_bolus(50_000, IMPLANT_S)
    assert found(check_bolus(history, 75_000, IMPLANT_S + DAY_S - 1)) == [("bolus_too_soon", HARD)]
    assert check_bolus(history, 75_000, IMPLANT_S + DAY_S) == []


def test_screening_bolus_above_the_sequence_is_refused_and_below_needs_a_reason():
    assert found(check_bolus(TitrationHistory(), 75_000, IMPLANT_S)) == [("bolus_above_sequence", HARD)]
    assert found(check_bolus(TitrationHistory(), 25_000, IMPLANT_S)) == [("bolus_below_sequence", SOFT)]
