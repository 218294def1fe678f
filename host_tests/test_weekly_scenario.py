"""Four weeks of the 90-day weekly program on the simulated board: each
day's delivered dose matches its weekday's programmed total within one
motor step, every weekday four times (the whole 90 days took CI a minute
and a half and showed nothing more; `tools/sim.py` runs the file whole).

The expected totals are worked out here from the scenario file alone, with
the standard library's calendar and fractions, not with pump.prescription:
a checker shares no code with what it checks. CPython only (about 25 s);
a shorter weekly run is in host_tests/logic/test_sim_runs.py for both
interpreters."""
import datetime
import json
import os
from fractions import Fraction

from hw.sim.runner import Run
from scenario import normalise

SCENARIO = os.path.join(os.path.dirname(__file__), "..", "tools", "scenarios", "ninety_days_weekly.json")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BOOT_S = 2
DAYS = 28


def hours(hhmm):
    return Fraction(int(hhmm[:2]) * 60 + int(hhmm[3:]), 60)


def expected_mcg(week, date):
    """mcg from midnight to midnight of `date`: the night before's last step
    until the day's first start, then the day's steps."""
    today = sorted((hours(s["start"]), Fraction(str(s["mcg_per_h"]))) for s in week[WEEKDAYS[date.weekday()]])
    yesterday = sorted((hours(s["start"]), Fraction(str(s["mcg_per_h"])))
                       for s in week[WEEKDAYS[(date.weekday() - 1) % 7]])
    total = yesterday[-1][1] * today[0][0]
    ends = [start for start, _rate in today[1:]] + [24]
    for (start, rate), end in zip(today, ends):
        total += rate * (end - start)
    return total


def test_four_weeks_of_a_weekly_program_deliver_each_weekdays_total_within_a_step():
    with open(SCENARIO) as f:
        raw = json.load(f)
    raw["duration_h"] = DAYS * 24
    raw["events"] = [event for event in raw.get("events", []) if event["at_h"] <= DAYS * 24]
    start = datetime.datetime.fromisoformat(raw["start"])
    assert start.time() == datetime.time(0, 0), "run days must be calendar days"
    results = Run(normalise(raw)).run()
    spm = results["true_steps_per_ml"]
    step_mcg = Fraction(raw["reservoir"]["concentration_mcg_per_ml"], spm)
    # the pump's days start when its clock says, which the board's boot puts up to
    # BOOT_S after the run's (it finds the DS3231's second edge): that much of a rate
    fastest = max(Fraction(str(step["mcg_per_h"])) for day in WEEKDAYS for step in raw["prescription"]["week"][day])
    boot_mcg = fastest * BOOT_S / 3600
    week = raw["prescription"]["week"]
    assert len(results["daily"]) == DAYS
    totals = set()
    for day, (_programmed, delivered) in enumerate(results["daily"]):
        date = start.date() + datetime.timedelta(days=day)
        expected = expected_mcg(week, date)
        totals.add(expected)
        assert abs(Fraction(delivered, spm) - expected) <= step_mcg + boot_mcg, (date, float(expected), delivered / spm)
    assert len(totals) >= 4  # the days really differ
    assert results["max_dose_error_steps"] == 1
    assert not [a for a in results["alarms"] if a[0] in ("low_reservoir", "empty_reservoir", "delivery_stopped")]
