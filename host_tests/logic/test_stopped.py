"""Stopped-pump mode: a programmed stop is told from a fault stop, and
`status` says since when and how much the schedule would have given
meanwhile, across weekdays and a restart; a resume clears it."""
# micropython-heap: 448K
# (a week of the simulated board with a power cut; at 320K the resume reply failed on the fragmented heap)
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


def notes_after_stops(sim):
    """The reason noted after each `stopped` entry of the log, oldest first."""
    from pump import events
    entries = list(reversed(sim.ctl.log.newest(200)))
    reasons = []
    for i, (_seq, _t, code, _a, _b) in enumerate(entries):
        if code == events.STOPPED:
            words = []
            for _seq2, _t2, code2, a, b in entries[i + 1:]:
                if code2 != events.NOTE:
                    break
                words.append((a, b))
            reasons.append(events.note_text(words) if words else None)
    return reasons


def test_stopped_pump_mode_is_entered_only_by_an_authenticated_command_with_a_reason():
    """Three commands enter it: stop, a single bolus and a prime followed by
    it. Unsigned, or without the reason, each is refused and delivery goes
    on; signed with one, the log notes the reason after the stop."""
    attempts = (("stop", {}), ("bolus", {"mcg": 20, "duration_s": 60, "then": "stop"}), ("prime", {"then": "stop"}))
    for cmd, args in attempts:
        sim, _results = run(1)
        unsigned = json.loads(sim.line(b"00" * 32 + b" " + json.dumps(
            {"cmd": cmd, "args": dict(args, reason="unsigned"), "ctr": sim.ctl.counter + 1}).encode()))
        assert unsigned["error"] == "bad_mac", cmd
        assert json.loads(sim.line(sim.sign({"cmd": cmd, "args": args})))["error"] == "bad_args", cmd
        assert status(sim)["state"] == "delivering", cmd
        assert json.loads(sim.line(sim.sign({"cmd": cmd, "args": dict(args, reason="held: " + cmd)})))["ok"], cmd
        sim.advance_to(sim.time.t_ms + 5 * 60_000)  # the bolus and the prime run their course
        now = status(sim)
        assert now["state"] == "stopped" and now["stop"] == "programmed", cmd
        assert notes_after_stops(sim) == ["held: " + cmd], cmd


def buzzer_times(results, tone):
    return [at_ms // 1000 for at_ms, name in results["annunciations"]["buzzer"] if name == tone]


def test_a_stopped_pump_reminds_every_ten_minutes_and_sounds_again_each_hour_until_dealt_with():
    # the run starts at 08:00; stopped at 30 min, acknowledged at 36 min
    events = [command(0.5, "stop", reason="holding"), {"at_h": 0.6, "do": "press", "button": "ack"}]
    _sim, results = run(2.5, events=events)
    assert buzzer_times(results, "reminder medium") == [2160 + 600 * k for k in range(1, 6)]
    # an hour after the ACK it sounds again, and as high (pump.alarms: a resounding stop escalates)
    last_ms, tone = results["annunciations"]["buzzer"][-1]
    assert (last_ms // 1000, tone) == (2160 + 3600, "high")


def test_a_low_reservoir_reminds_with_a_short_tone_about_once_an_hour():
    # 30 mcg/h of 500 mcg/mL is 1.44 mL a day: 9 mL is low at once (seven days' warning)
    _sim, results = run(5, fill_ml=9, events=[{"at_h": 0.1, "do": "press", "button": "ack"}])
    assert [a[0] for a in results["alarms"]] == ["low_reservoir"]
    reminders = buzzer_times(results, "reminder medium")
    # taken at the pump's wake-ups (every 19 s at this rate), an hour from the last
    assert len(reminders) == 4 and all(3600 <= b - a <= 3660 for a, b in zip(reminders, reminders[1:])), reminders
