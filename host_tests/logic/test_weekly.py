"""Weekly schedules: the program, each drug-library rule per day, titration
day against same weekday and the weekly total, the flex lead time across
midnight and weekdays. Tables: one row per case."""
from pump import clinical
from pump.druglib import HARD, SOFT, check_prescription
from pump.prescription import MAX_STEPS_PER_DAY, Prescription
from pump.titration import REFILL, RESTART, TITRATION, TitrationHistory, check_week_change, record_week_change
from pump.units import MS_PER_DAY, MS_PER_HOUR, WEEKDAY_NAMES, days_from_date, weekday

H = MS_PER_HOUR
STEPS_PER_ML = 12_732
SPINAL = {"origin": "spinal", "age_years": 40, "days_since_implant": 100}
CHILD = {"origin": "spinal", "age_years": 8, "days_since_implant": 100}
MONDAY = days_from_date(2026, 3, 2)
IMPLANT_S = 800_000_000
LATER_S = IMPLANT_S + 30 * 86_400


def week(**days):
    """Seven days of 25 mcg/h from midnight (600 mcg/day), but for the days given."""
    plain = [(0, 25_000)]
    return Prescription(week=[days.get(name, plain) for name in WEEKDAY_NAMES])


# (year, month, day, weekday): 2000-01-01 was a Saturday
WEEKDAYS = ((2000, 1, 1, 5), (2000, 1, 3, 0), (2026, 3, 2, 0), (2026, 3, 8, 6), (2034, 1, 10, 1),
            (2099, 12, 31, 3))


def test_weekday_counts_from_a_saturday_epoch():
    for year, month, day, expected in WEEKDAYS:
        assert weekday(days_from_date(year, month, day)) == expected, (year, month, day)


# A week whose night step runs past midnight into the next day's morning.
NIGHTS = week(mon=[(0, 20_000), (21 * H, 30_000)], fri=[(7 * H, 20_000), (21 * H, 35_000)],
              sat=[(9 * H, 28_000), (22 * H, 40_000)], sun=[(10 * H, 25_000)])
# (weekday, ms of day, rate): the rate in force, and where it comes from
RATES = (
    (0, 0, 20_000),            # Monday starts at midnight: Sunday's step does not run on
    (0, 21 * H - 1, 20_000), (0, 21 * H, 30_000),
    (1, 0, 25_000),            # Tuesday's own step starts at midnight
    (5, 0, 35_000),            # Saturday 00:00-09:00: Friday's night step runs on
    (5, 9 * H - 1, 35_000), (5, 9 * H, 28_000), (5, 22 * H, 40_000),
    (6, 3 * H, 40_000),        # Sunday morning: Saturday's night step
    (6, 10 * H, 25_000),
)


def test_the_rate_before_a_days_first_step_is_the_day_befores_last():
    for day_index, ms, rate in RATES:
        assert NIGHTS.rate_at(MONDAY + day_index, ms) == rate, (day_index, ms)
        assert NIGHTS.rate_at(MONDAY + 7 + day_index, ms) == rate  # and the next week alike


# weekday -> (next change after 00:00, after 21:00): midnight bounds every day
CHANGES = {0: (21 * H, MS_PER_DAY), 4: (7 * H, MS_PER_DAY), 5: (9 * H, 22 * H), 6: (10 * H, MS_PER_DAY)}


def test_segments_end_at_each_step_and_at_every_midnight():
    for day_index, (after_midnight, after_nine_pm) in CHANGES.items():
        assert NIGHTS.next_change_ms(MONDAY + day_index, 0) == after_midnight
        assert NIGHTS.next_change_ms(MONDAY + day_index, 21 * H) == after_nine_pm


def test_each_days_dose_runs_midnight_to_midnight_with_the_night_before():
    # mon 21x20+3x30; tue-thu 600; fri 7x25+14x20+3x35; sat 9x35+13x28+2x40;
    # sun 10x40+14x25
    assert NIGHTS.week_doses_ng() == [510_000, 600_000, 600_000, 600_000, 560_000, 759_000, 750_000]
    assert NIGHTS.week_ng() == 4_379_000 and NIGHTS.daily_ng() == 759_000
    assert [NIGHTS.dose_on_ng(MONDAY + i) for i in range(7)] == NIGHTS.week_doses_ng()
    daily = Prescription([(7 * H, 20_000), (21 * H, 30_000)])
    assert daily.week_doses_ng() == [580_000] * 7 and daily.week_ng() == 7 * 580_000


def test_a_weekly_program_survives_its_record_and_a_daily_one_keeps_its_form():
    assert Prescription.from_record(NIGHTS.to_record()) == NIGHTS
    daily = Prescription([(7 * H, 20_000), (0, 30_000)])
    assert daily.to_record() == [[0, 30_000], [7 * H, 20_000]]  # a state record from before weeks
    assert Prescription.from_record(daily.to_record()) == daily
    assert daily != Prescription(week=[daily.steps] * 7)


def brute_force_ms(rx, day, ms, amount):
    """The ms until `amount` (ng x ms/h) is delivered, walking one minute at a time."""
    elapsed = 0
    while True:
        rate = rx.rate_at(day + (ms + elapsed) // MS_PER_DAY, (ms + elapsed) % MS_PER_DAY)
        if rate * 60_000 >= amount:
            return elapsed + -(-amount // rate)
        amount -= rate * 60_000
        elapsed += 60_000


# (start weekday, ms of day, amount in ng x ms/h): projections the refill card makes
PROJECTIONS = ((0, 0, 1), (0, 0, 510_000 * H), (5, 3 * H, 40_000 * H), (6, 23 * H + 17, 1_234_567 * H + 5),
               (2, 12 * H, 4_379_000 * H), (3, 0, 4_379_000 * H * 2 + 99))


def test_the_time_to_deliver_an_amount_walks_the_week():
    for day_index, ms, amount in PROJECTIONS:
        expected = brute_force_ms(NIGHTS, MONDAY + day_index, ms, amount)
        assert NIGHTS.ms_to_deliver(MONDAY + day_index, ms, amount) == expected, (day_index, ms, amount)
    # whole weeks are skipped by division, not walked
    assert NIGHTS.ms_to_deliver(MONDAY, 0, 4_379_000 * H * 52) == 52 * 7 * MS_PER_DAY


def rules(violations):
    return sorted((v.rule, v.severity, v.message.split(":")[0]) for v in violations)


# Each drug-library rule on a weekly program: (case, prescription, patient,
# concentration, [(rule, severity, the days the message names)]).
TOO_MUCH = [(0, 84_000)]  # 2016 mcg/day, above the spinal maximum
RULES = (
    ("every day in range", week(), SPINAL, 500, []),
    ("one day above the hard maximum", week(sat=TOO_MUCH), SPINAL, 2000, [
        ("daily_dose_above_hard_max", HARD, "sat"), ("daily_dose_above_usual", SOFT, "sat"),
        ("daily_dose_limited_experience", SOFT, "sat")]),
    ("the night before counts in the day", week(sat=[(0, 25_000), (18 * H, 150_000)], sun=[(12 * H, 25_000)]),
     SPINAL, 2000, [("daily_dose_above_hard_max", HARD, "sun"), ("daily_dose_above_usual", SOFT, "sat"),
                    ("daily_dose_above_usual", SOFT, "sun"), ("daily_dose_limited_experience", SOFT, "sat"),
                    ("daily_dose_limited_experience", SOFT, "sun")]),
    ("one day below the hard minimum", week(wed=[(0, 400)]), SPINAL, 500, [
        ("daily_dose_below_hard_min", HARD, "wed"), ("daily_dose_below_usual", SOFT, "wed")]),
    ("two days alike are named together", week(sat=[(0, 35_000)], sun=[(0, 35_000)]), SPINAL, 500, [
        ("daily_dose_above_usual", SOFT, "sat, sun")]),
    ("a young child's day above the average", week(tue=[(0, 12_000)]), CHILD, 500, [
        ("young_child_above_average", SOFT, "mon, wed, thu, fri, sat, sun"),
        ("young_child_above_average", SOFT, "tue")]),
    ("one step above the flow ceiling", week(thu=[(0, 25_000), (3 * H, 120_000), (4 * H, 25_000)]), SPINAL, 100,
     [("flow_above_ceiling", HARD, "120 mcg/h at 100 mcg/mL needs 1200000 nL/h, above 1 mL/h")]),
    ("one step under the flow floor", week(fri=[(0, 25_000), (3 * H, 150), (4 * H, 25_000)]), SPINAL, 2000, [
        ("flow_below_floor", HARD, "0.150 mcg/h at 2000 mcg/mL is 75 nL/h, under one motor step (79 nL) per hour")]),
    ("too many steps on one day", week(fri=[(i * H, 25_000) for i in range(MAX_STEPS_PER_DAY + 1)]), SPINAL, 500,
     [("flex_too_many_steps", HARD, "fri")]),
    ("a day's dose not a whole ng", week(mon=[(0, 25_001), (30 * 60_000, 25_000)]), SPINAL, 500, [
        ("daily_dose_not_whole_ng", HARD, "mon")]),
    ("a day without steps", week(tue=[]), SPINAL, 500, [("schedule_empty", HARD, "tue")]),
    ("a step at a zero rate", week(sun=[(0, 25_000), (H, 0)]), SPINAL, 500, [
        ("step_rate_not_positive", HARD, "sun")]),
    ("a step outside the day", week(wed=[(0, 25_000), (MS_PER_DAY, 25_000)]), SPINAL, 500, [
        ("step_start_outside_day", HARD, "wed")]),
)


def test_every_library_rule_applies_to_each_day_of_a_week():
    for case, rx, patient, concentration, expected in RULES:
        dilution = concentration not in (50, 500, 2000)
        found = check_prescription(rx, patient, concentration, STEPS_PER_ML, dilution)
        assert rules(found) == sorted(expected), case


def test_a_week_needs_seven_days():
    six = Prescription(week=[[(0, 25_000)]] * 6)
    assert rules(check_prescription(six, SPINAL, 500, STEPS_PER_ML)) == [
        ("week_not_seven_days", HARD, "a weekly schedule has seven days, Monday to Sunday; 6 given")]


def test_thirteen_steps_every_day_of_the_week_are_a_program():
    day = [(i * H, 25_000) for i in range(MAX_STEPS_PER_DAY)]
    assert MAX_STEPS_PER_DAY >= 13
    assert check_prescription(Prescription(week=[day] * 7), SPINAL, 500, STEPS_PER_ML) == []


def implanted(dose_ng=600_000):
    history = TitrationHistory()
    history.record_implant(IMPLANT_S, dose_ng)
    return history


FLAT = [600_000] * 7


def days(**changed):
    return [changed.get(name, 600_000) for name in WEEKDAY_NAMES]


# Titration of a weekly change: (case, kind, old week, new week, [(rule, severity, days named)])
CHANGES_TABLE = (
    ("one day up within the band", TITRATION, FLAT, days(sat=750_000), []),
    ("one day up above the band", TITRATION, FLAT, days(sat=800_000), [
        ("titration_increase_above_band", SOFT, "sat")]),
    ("one day up too little", TITRATION, FLAT, days(sat=630_000), [
        ("titration_increase_below_band", SOFT, "sat")]),
    ("every day up above the band: the days and the weekly total", TITRATION, FLAT, [800_000] * 7, [
        ("titration_increase_above_band", SOFT, "mon, tue, wed, thu, fri, sat, sun"),
        ("titration_increase_above_band", SOFT, "weekly total")]),
    ("day against same weekday, not against the average", TITRATION, days(sat=800_000, sun=800_000),
     days(sat=800_000, sun=880_000), []),
    ("a day moved: up on one, down too far on another", TITRATION, FLAT, days(mon=720_000, tue=450_000), [
        ("decrease_above_band", SOFT, "tue")]),
    ("every day down too far: withdrawal risk, days and total", TITRATION, FLAT, [420_000] * 7, [
        ("decrease_above_band", SOFT, "mon, tue, wed, thu, fri, sat, sun"),
        ("decrease_above_band", SOFT, "weekly total")]),
    ("a refill visit allows 40 % on a day", REFILL, FLAT, days(fri=840_000), []),
    ("but not more", REFILL, FLAT, days(fri=850_000), [("refill_increase_above_limit", SOFT, "fri")]),
)


def test_titration_compares_day_with_same_weekday_and_the_weekly_total():
    for case, kind, old, new, expected in CHANGES_TABLE:
        found = check_week_change(implanted(), SPINAL, old, new, LATER_S, kind)
        assert rules(found) == sorted(expected), case


def test_a_rise_on_any_weekday_is_an_increase_for_the_24_h_rule():
    history = implanted(800_000)
    before = days(sat=800_000)
    after = days(sat=800_000, wed=700_000)  # the heaviest day stays as it was
    record_week_change(history, before, after, LATER_S, TITRATION)
    assert history.increased_s == LATER_S and history.dose_ng == 800_000
    # an hour later, a rise on two other days: one timing finding naming both
    found = check_week_change(history, SPINAL, after, days(sat=800_000, wed=700_000, mon=700_000, sun=700_000),
                              LATER_S + 3600, TITRATION)
    assert rules(found) == [("increase_too_soon_after_increase", HARD, "mon, sun")]
    # a week that only moves dose down is no increase
    history = implanted()
    record_week_change(history, FLAT, days(wed=500_000), LATER_S, TITRATION)
    assert history.increased_s is None


def test_a_restart_is_bounded_by_the_initial_dose_on_every_day():
    history = implanted(600_000)
    history.record_change(300_000, LATER_S, "taper")
    found = check_week_change(history, SPINAL, [300_000] * 7, days(sun=650_000), LATER_S + 2 * 86_400, RESTART)
    assert [(v.rule, v.message.split(":")[0]) for v in found] == [("restart_above_initial_dose", "sun")]


# Flex lead time: (weekday of the effect, effect time, rate) -> (weekday of the start, start time)
LEADS = (
    ((0, 1 * H, 40_000), (6, 23 * H)),      # Monday 01:00 starts on Sunday 23:00
    ((0, 2 * H, 40_000), (0, 0)),           # Monday 02:00 starts at Monday midnight
    ((3, 14 * H, 20_000), (3, 12 * H)),
    ((6, 0, 30_000), (5, 22 * H)),          # Sunday midnight starts on Saturday 22:00
)


def test_the_flex_lead_time_moves_starts_across_midnight_and_weekdays():
    for (effect_day, effect_ms, rate), (start_day, start_ms) in LEADS:
        effects = [[] for _day in range(7)]
        effects[effect_day].append((effect_ms, rate))
        preview = clinical.flex_week_preview(effects)
        row, = preview["rows"]
        assert (row["start_day"], row["start_ms"], row["ng_per_h"]) == (start_day, start_ms, rate)
        assert preview["week"][start_day] == [[start_ms, rate]]
        assert sum(len(day) for day in preview["week"]) == 1


def test_a_weekly_preview_is_a_program_that_delivers_each_effect_two_hours_early():
    effects = [[(0, 25_000), (22 * H, 35_000)] for _day in range(7)]
    effects[5] = [(1 * H, 30_000), (23 * H, 40_000)]  # Saturday differs
    preview = clinical.flex_week_preview(effects)
    rx = Prescription(week=preview["week"])
    assert check_prescription(rx, SPINAL, 500, STEPS_PER_ML) == []
    for day_index in range(7):
        for effect_ms, rate in effects[day_index]:
            start = MONDAY * MS_PER_DAY + day_index * MS_PER_DAY + effect_ms - 2 * H
            assert rx.rate_at(start // MS_PER_DAY, start % MS_PER_DAY) == rate
