"""Stopped-pump mode: a programmed stop is told from a fault stop, and
`status` says since when and how much the schedule would have given
meanwhile, across weekdays and a restart; a resume clears it."""
# micropython-heap: 320K
import json

from pump.prescription import Prescription
from pump.units import MS_PER_DAY, MS_PER_HOUR
from simcase import run
from test_sim_runs import WEEK

H = MS_PER_HOUR


def command(at_h, cmd, **args):
    return {"at_h": at_h, "do": "command", "command": {"cmd": cmd, "args": args}}


def status(sim):
    return json.loads(sim.line(b'{"cmd": "status"}'))


# The weekly program of test_sim_runs from Saturday 20:00 to Monday 02:00, by hand:
# Sat 2 h x 28 + 2 h x 35; Sun 9 h x 35 (Saturday's night runs on) + 12 h x 25 + 3 h x 20; Mon 2 h x 20
MISSED_MCG = 56 + 70 + 315 + 300 + 60 + 40


def test_a_programmed_stop_says_since_when_and_what_the_week_would_have_given():
    # from Monday midnight; stopped on Saturday at 20:00, the power cut for a minute on Sunday
    events = [command(5 * 24 + 20, "stop", reason="drowsy: hold the dose"),
              {"at_h": 6 * 24 + 12, "do": "power_cut", "off_ms": 60_000}]
    sim, results = run(7 * 24 + 2, week=WEEK, start_ms=0, fill_ml=20, events=events)
    assert results["restarts"] == 1
    now = status(sim)
    assert now["state"] == "stopped" and now["stop"] == "programmed" and now["stopped_for"] == ["command"]
    assert now["stopped_since"] == "2026-03-07T20:00:00" and now["stopped_minutes"] == 30 * 60
    assert now["not_delivered_mcg"] == MISSED_MCG
    assert "delivery_stopped" in now["alarms"]
    assert json.loads(sim.line(sim.sign({"cmd": "resume"})))["delivering"]
    after = status(sim)
    assert after["stop"] is after["stopped_since"] is after["stopped_minutes"] is after["not_delivered_mcg"] is None


def test_a_fault_stop_is_not_a_programmed_one_and_both_can_hold():
    sim, _results = run(6, events=[{"at_h": 2, "do": "occlude"}])
    fault = status(sim)
    assert fault["state"] == "stopped" and fault["stopped_for"] == ["occlusion"] and fault["stop"] == "fault"
    assert 0 < fault["stopped_minutes"] < 4 * 60
    assert 0 <= fault["not_delivered_mcg"] - fault["stopped_minutes"] * 30 / 60 < 30 / 60  # the minutes, floored
    sim.line(sim.sign({"cmd": "stop", "args": {"reason": "checking the catheter"}}))
    both = status(sim)
    assert both["stop"] == "programmed, and a fault" and both["stopped_since"] == fault["stopped_since"]


def brute_force(rx, day, ms, duration_ms):
    """ng x ms/h over the duration, a minute at a time."""
    total = 0
    for minute in range(duration_ms // 60_000):
        t = ms + minute * 60_000
        total += rx.rate_at(day + t // MS_PER_DAY, t % MS_PER_DAY) * 60_000
    return total


NIGHTS = Prescription(week=[[(0, 20_000), (21 * H, 30_000)]] * 4 + [[(7 * H, 20_000), (21 * H, 35_000)],
                            [(9 * H, 28_000), (22 * H, 35_000)], [(9 * H, 25_000), (21 * H, 20_000)]])
# (weekday from Monday, start ms, minutes): what a stop of that long missed
SPANS = ((0, 0, 0), (0, 0, 60), (4, 20 * H, 8 * 60), (6, 23 * H, 3 * 60), (2, 7 * H, 7 * 24 * 60 + 90),
         (5, 0, 23 * 24 * 60))


def test_the_missed_dose_walks_the_schedule_and_skips_whole_weeks():
    monday = 9557  # 2026-03-02
    for weekday, ms, minutes in SPANS:
        expected = brute_force(NIGHTS, monday + weekday, ms, minutes * 60_000)
        assert NIGHTS.ng_x_ms_over(monday + weekday, ms, minutes * 60_000) == expected, (weekday, ms, minutes)
