"""Clinician helpers: starting dose, holiday taper, flex lead time, CSF preview."""
from pump.clinical import (csf_curve, distribution_volume_ul, flex_preview, holiday_taper,
                           starting_daily_ng, steps_for_daily_dose)
from pump.druglib import BACLOFEN_INTRATHECAL, check_prescription
from pump.prescription import Prescription
from pump.titration import RESTART, TAPER, TitrationHistory, check_change
from pump.units import MS_PER_HOUR, hhmm_to_ms

HOUR_S = 3600
SPINAL = {"origin": "spinal", "age_years": 40, "days_since_implant": 400}
CHILD = {"origin": "spinal", "age_years": 9, "days_since_implant": 400}


def test_starting_dose_doubles_the_screening_dose_unless_its_effect_lasted_over_8_h():
    table = ((4 * HOUR_S, 100_000), (8 * HOUR_S, 100_000), (8 * HOUR_S + 1, 50_000), (12 * HOUR_S, 50_000))
    for effect_s, expected_ng in table:
        assert starting_daily_ng(50_000, effect_s) == expected_ng, effect_s


def test_continuous_schedule_delivers_exactly_the_daily_dose():
    for daily_ng in (12_000, 100_000, 300_001, 2_003_000, 24):
        steps = steps_for_daily_dose(daily_ng)
        assert Prescription(steps).day_ng_x_ms(0) == daily_ng * MS_PER_HOUR, daily_ng
        rates = [rate for _start, rate in steps]
        assert max(rates) - min(rates) < 24, daily_ng


def test_taper_lasts_2_to_4_weeks():
    for days in (13, 29):
        try:
            holiday_taper(600_000, days, SPINAL, 200_000)
        except ValueError:
            continue
        assert False, "a %d-day taper was accepted" % days
    assert len(holiday_taper(600_000, 14, SPINAL, 200_000)["taper"]) == 14
    assert len(holiday_taper(600_000, 28, SPINAL, 200_000)["taper"]) == 28


def test_taper_decreases_every_day_to_the_lowest_allowed_dose_then_restarts_at_the_initial_dose():
    plan = holiday_taper(600_000, 21, SPINAL, 200_000)
    doses = [600_000] + [daily_ng for _day, daily_ng in plan["taper"]]
    assert [day for day, _ng in plan["taper"]] == list(range(1, 22))
    assert all(doses[i + 1] < doses[i] for i in range(21))
    assert doses[-1] == 12_000 and plan["floor_ng"] == 12_000
    assert plan["restart"] == {"daily_ng": 200_000, "kind": RESTART}


def test_a_child_is_tapered_to_the_cerebral_minimum():
    assert holiday_taper(300_000, 14, CHILD, 100_000)["taper"][-1][1] == 22_000


def test_taper_from_the_minimum_is_refused():
    try:
        holiday_taper(12_010, 14, SPINAL, 200_000)
    except ValueError:
        return
    assert False, "a taper with nothing to taper was accepted"


def test_every_taper_day_and_the_restart_pass_the_library_and_titration():
    history = TitrationHistory()
    history.record_implant(0, 200_000)
    history.record_change(600_000, 30 * 86_400)
    plan = holiday_taper(600_000, 14, SPINAL, history.initial_ng)
    now_s = 60 * 86_400
    for _day, daily_ng in plan["taper"]:
        program = Prescription(steps_for_daily_dose(daily_ng))
        assert not [v for v in check_prescription(program, SPINAL, 500, 12_732) if v.hard], daily_ng
        assert check_change(history, SPINAL, daily_ng, now_s, TAPER) == [], daily_ng
        history.record_change(daily_ng, now_s, TAPER)
        now_s += 86_400
    assert check_change(history, SPINAL, plan["restart"]["daily_ng"], now_s + 7 * 86_400, RESTART) == []


def test_flex_change_for_an_effect_at_t_starts_at_t_minus_2_h():
    preview = flex_preview([(hhmm_to_ms("22:00"), 40_000), (hhmm_to_ms("09:00"), 20_000),
                            (hhmm_to_ms("01:00"), 30_000)])
    shown = [(row["effect_at"], row["starts_at"], row["ng_per_h"]) for row in preview["rows"]]
    assert shown == [("09:00", "07:00", 20_000), ("22:00", "20:00", 40_000), ("01:00", "23:00", 30_000)]
    assert preview["steps"] == [[hhmm_to_ms("07:00"), 20_000], [hhmm_to_ms("20:00"), 40_000],
                                [hhmm_to_ms("23:00"), 30_000]]


def test_distribution_volume_is_clearance_over_elimination_constant_about_65_ml():
    assert distribution_volume_ul() == 64_921  # 30 mL/h x 1.5 h / ln 2


def test_csf_preview_settles_at_rate_over_clearance_within_the_monograph_1_to_2_days():
    first_day, last_day = BACLOFEN_INTRATHECAL["pharmacokinetics"]["steady_state_days"]
    curve = csf_curve(Prescription([(0, 25_000)]), 24 * last_day)
    by_minute = dict((minute, ng_per_ml) for minute, ng_per_ml in curve["samples"])
    steady_ng_per_ml = 25_000 * 1000 // 30_000  # 833
    assert by_minute[0] == 0
    for day in (first_day, last_day):
        assert abs(by_minute[day * 24 * 60] - steady_ng_per_ml) * 100 <= steady_ng_per_ml, day


def test_csf_preview_reaches_half_of_steady_state_in_one_half_life():
    curve = csf_curve(Prescription([(0, 25_000)]), 2, sample_min=90)
    half_ng_per_ml = 25_000 * 1000 // 30_000 // 2
    at_90_min = curve["samples"][1]
    assert at_90_min[0] == 90
    assert abs(at_90_min[1] - half_ng_per_ml) * 50 <= half_ng_per_ml  # within 2 %


def test_csf_preview_follows_a_night_step():
    night = Prescription([(0, 40_000), (7 * MS_PER_HOUR, 20_000), (22 * MS_PER_HOUR, 40_000)])
    by_hour = dict((minute // 60, c) for minute, c in csf_curve(night, 48)["samples"])
    assert by_hour[24 + 6] > by_hour[24 + 20]  # 06:00 on day 2 vs 20:00 on day 2


def test_csf_preview_is_integers_and_says_it_is_a_preview():
    curve = csf_curve(Prescription([(0, 25_000)]), 3)
    assert "not a clinical prediction" in curve["note"]
    assert all(type(m) is int and type(c) is int for m, c in curve["samples"])
