"""Therapy modes (pump.therapy) on the simulated board, with the line the
simulator models (hw/sim/catheter.py): the bridge after a concentration
change, the prime, and the single bolus followed by stopped-pump mode or the
schedule."""
# micropython-heap: 320K
import json

from pump import events
from pump.units import MS_PER_HOUR
from simcase import run

CATHETER = (50, 0.002, True)  # 50 cm of 2 uL/cm: with the board's 100 uL outlet, a 200 uL line
LINE_UL = 200
RATE_MCG_PER_H = 20


def command(at_h, cmd, **args):
    return {"at_h": at_h, "do": "command", "command": {"cmd": cmd, "args": args}}


def send(sim, cmd, **args):
    return json.loads(sim.line(sim.sign({"cmd": cmd, "args": args})))


def status(sim):
    return json.loads(sim.line(b'{"cmd": "status"}'))


def tip_pct(sim, results):
    """The dose at the catheter tip each hour, in % of the programmed (integers, floored)."""
    spm = sim.board.mechanism.true_steps_per_ml
    tip, programmed = results["tip"]["hourly"], results["tip"]["programmed_hourly"]
    return [tip[h] * 1000 * MS_PER_HOUR * 100 // (spm * programmed[h]) if h < len(tip) else 0
            for h in range(len(programmed))]


def bridge_run(old, new, bridge, hours):
    events_ = [{"at_h": 2, "do": "refill", "add_nl": 18_000_000, "concentration_ng_per_ul": new}]
    if bridge:
        events_.append(command(2, "bridge", confirm=True))
    return run(hours, steps=(("00:00", RATE_MCG_PER_H),), concentration=old, catheter=CATHETER, events=events_)


def logged(sim, code):
    """(time_s, a, b) of the log's entries of `code`, oldest first."""
    return [entry[1:2] + entry[3:] for entry in reversed(sim.ctl.log.newest(200)) if entry[2] == code]


# --------------------------------------------------------------------- bridge
def test_500_to_2000_with_the_bridge_keeps_the_tip_dose_within_5_percent_every_hour():
    sim, results = bridge_run(500, 2000, True, 10)
    proposal = json.loads(results["replies"][0])["bridge"]
    # 200 uL of 500 mcg/mL at 20 mcg/h (40 uL/h): 5 h; paced for 2000 mcg/mL (10 uL/h): 20 h at a quarter
    assert LINE_UL - 0.1 < proposal["old_drug_ul"] <= LINE_UL and proposal["old_mcg_per_ml"] == 500
    assert (proposal["with_bridge_h"], proposal["without_bridge_h"]) == (5.0, 20.0)
    assert proposal["without_bridge_tip_dose_pct"] == 25
    pct = tip_pct(sim, results)
    assert len(pct) == 10 and all(95 <= p <= 105 for p in pct), pct
    assert len(logged(sim, events.BRIDGE)) == 1 and len(logged(sim, events.BRIDGE_END)) == 1
    assert sim.ctl.line_drug is None and sim.ctl.pacing_concentration() == 2000
    assert results["max_dose_error_steps"] <= 1


def test_500_to_2000_without_the_bridge_gives_a_quarter_of_the_dose_until_the_line_is_flushed():
    sim, results = bridge_run(500, 2000, False, 10)
    pct = tip_pct(sim, results)
    assert all(98 <= p <= 102 for p in pct[:2]), pct
    assert all(24 <= p <= 26 for p in pct[2:]), pct  # the flush takes 20 h: past the end of the run


def test_2000_to_500_with_the_bridge_keeps_the_tip_dose_within_5_percent_every_hour():
    sim, results = bridge_run(2000, 500, True, 24)
    proposal = json.loads(results["replies"][0])["bridge"]
    assert (proposal["with_bridge_h"], proposal["without_bridge_h"]) == (20.0, 5.0)
    assert proposal["without_bridge_tip_dose_pct"] == 400
    pct = tip_pct(sim, results)
    assert len(pct) == 24 and all(95 <= p <= 105 for p in pct), pct
    # the new rate takes over when the new drug reaches the tip, 20 h after the refill
    (end,) = logged(sim, events.BRIDGE_END)
    assert abs(end[0] - sim.start_s - 22 * 3600) <= 60


def test_2000_to_500_without_the_bridge_gives_four_times_the_dose_until_the_line_is_flushed():
    sim, results = bridge_run(2000, 500, False, 10)
    pct = tip_pct(sim, results)
    assert all(398 <= p <= 402 for p in pct[2:7]), pct  # 200 uL at 40 uL/h: five hours
    assert all(98 <= p <= 102 for p in pct[7:]), pct


def test_a_bridge_needs_old_drug_in_the_line_and_a_confirmation():
    sim, _results = run(1, catheter=CATHETER)
    assert send(sim, "bridge", confirm=True)["error"] == "no_bridge"
    sim.board.mechanism.refill(18_000_000, True)
    assert send(sim, "refill", add_ml=18, concentration_mcg_per_ml=2000, confirm=True)["ok"]
    asked = send(sim, "bridge")
    assert asked["error"] == "confirm" and "uL of 500 mcg/mL" in asked["message"]
    assert LINE_UL - 1 < status(sim)["line"]["old_drug_ul"] <= LINE_UL and not status(sim)["line"]["bridging"]
    assert send(sim, "bridge", confirm=True)["bridging"]
    assert send(sim, "bridge", confirm=True)["error"] == "bridging"


def power_cut_bridge(old, new):
    events_ = [{"at_h": 2, "do": "refill", "add_nl": 18_000_000, "concentration_ng_per_ul": new},
               command(2, "bridge", confirm=True), {"at_h": 5, "do": "power_cut", "off_ms": 60_000}]
    sim, results = run(24, steps=(("00:00", RATE_MCG_PER_H),), concentration=old, catheter=CATHETER, events=events_)
    assert results["restarts"] == 1 and len(logged(sim, events.BRIDGE_END)) == 1
    return tip_pct(sim, results)


def test_a_bridge_goes_on_across_a_power_cut():
    """The restart counts the steps it authorised as used (up to ten minutes
    of flow: 85 steps at 40 uL/h) though they may not have gone out, and the
    bridge ends that much early. From 500 to 2000 mcg/mL the tip then gets a
    quarter of the dose for up to 40 minutes, in hours 6-7 (the bridge ends
    at 7 h): at most half an hour's dose is lost. From 2000 to 500 the last
    of the old drug goes out at four times its rate: the same dose, sooner,
    so an hour may get up to a few % more."""
    pct = power_cut_bridge(500, 2000)
    short = [h for h, p in enumerate(pct) if p < 95]
    assert short and set(short) <= {6, 7} and sum(100 - pct[h] for h in short) <= 50, pct
    assert all(p <= 105 for p in pct), pct
    pct = power_cut_bridge(2000, 500)
    assert all(95 <= p <= 110 for p in pct), pct


# ---------------------------------------------------------------------- prime
def test_a_prime_fills_the_line_at_the_bolus_rate_as_line_volume_not_dose():
    dry = (CATHETER[0], CATHETER[1], False)
    events_ = [command(0, "stop", reason="new implant: prime first"),
               command(0.5, "prime", then="schedule")]
    sim, results = run(5, steps=(("00:00", RATE_MCG_PER_H),), catheter=dry, events=events_)
    reply = json.loads(results["replies"][1])
    assert reply["line_ul"] == LINE_UL and reply["duration_ms"] == 72_000  # 200 uL at 10 mL/h
    (prime,) = logged(sim, events.PRIME)
    assert prime[1:] == (LINE_UL * 1000, 72_000)
    assert sim.ctl.history.boluses == [] and sim.ctl.history.boluses_in_window_ng(sim.ctl.steady_s()) == 0
    line_steps = LINE_UL * 12_732 // 1000
    basal_steps = RATE_MCG_PER_H * 2 * 12_732 * (5 * MS_PER_HOUR - 1_800_000 - 72_000) // (1000 * MS_PER_HOUR)
    assert abs(sim.board.stepper.forward_emitted - line_steps - basal_steps) <= 2
    pct = tip_pct(sim, results)
    assert pct[0] < 50 and all(95 <= p <= 105 for p in pct[1:]), pct  # a primed line: the dose arrives at once
    assert status(sim)["state"] == "delivering"


def test_a_prime_then_stop_leaves_the_pump_in_stopped_pump_mode():
    events_ = [command(1, "prime", then="stop", reason="catheter revision: primed, start tomorrow")]
    sim, results = run(2, catheter=CATHETER, events=events_)
    now = status(sim)
    assert now["state"] == "stopped" and now["stop"] == "programmed" and not now["line"]["basal_held"]
    assert now["stopped_since"] == "2026-03-02T09:01:12"  # after the 72 s prime
    assert results["max_dose_error_steps"] <= 1


def test_the_first_program_waits_for_a_prime_in_flight_and_then_delivers():
    """A prime before any program: the first program would start delivery
    afresh and drop the prime with the basal still held, for good."""
    from hw.sim.runner import Run
    from simcase import scenario
    case = scenario(4, catheter=CATHETER)
    case["setup"] = [c for c in case["setup"] if c["cmd"] != "set_prescription"]
    case["prescription"] = None
    sim = Run(case)
    program = {"steps": [{"start": "00:00", "mcg_per_h": RATE_MCG_PER_H}]}
    sim.advance_to(MS_PER_HOUR)
    assert send(sim, "prime", then="stop", reason="new line: primed, program follows")["ok"]
    sim.advance_to(MS_PER_HOUR + 10_000)
    refused = send(sim, "set_prescription", **program)
    assert (refused["ok"], refused["error"]) == (False, "bolus_running")
    sim.advance_to(MS_PER_HOUR + 120_000)  # the 72 s prime is over: stopped-pump mode, as asked
    now = status(sim)
    assert now["stopped_for"] == ["command"] and not now["line"]["basal_held"]
    assert send(sim, "set_prescription", **program)["ok"] and send(sim, "resume")["ok"]
    emitted = sim.board.stepper.emitted
    sim.advance_to(3 * MS_PER_HOUR)
    assert status(sim)["state"] != "stopped" and sim.board.stepper.emitted > emitted


def test_a_prime_is_refused_over_a_fault_or_without_a_reason_for_the_stop():
    sim, _results = run(1, catheter=CATHETER, events=[{"at_h": 0.5, "do": "occlude"}])
    assert send(sim, "prime", then="schedule")["error"] == "not_delivering"
    assert send(sim, "prime", then="stop")["error"] == "bad_args"
    assert send(sim, "prime", then="schedule", reason="not for a schedule")["error"] == "bad_args"


# --------------------------------------------------------------- single bolus
BOLUS_STEPS = 1273  # 50 mcg at 500 mcg/mL: 100 uL, 1273.2 steps
BASAL_STEPS_PER_H = 30 * 2 * 12_732 // 1000  # 30 mcg/h at 500 mcg/mL: 60 uL/h


def test_a_single_bolus_holds_the_basal_then_leaves_the_pump_in_stopped_pump_mode():
    events_ = [command(1, "bolus", mcg=50, duration_s=600, then="stop", reason="bolus trial, then hold")]
    sim, results = run(3, events=events_)
    assert json.loads(results["replies"][0])["then"] == "stop"
    emitted = sim.board.stepper.forward_emitted
    assert abs(emitted - BASAL_STEPS_PER_H - BOLUS_STEPS) <= 2, emitted  # nothing of the basal in or after it
    now = status(sim)
    assert now["state"] == "stopped" and now["stop"] == "programmed" and now["stopped_since"] == "2026-03-02T09:10:00"
    assert "delivery_stopped" in now["alarms"]
    assert sim.ctl.history.boluses_in_window_ng(sim.ctl.steady_s()) == 50_000  # dose: the 24 h rules count it
    assert results["max_dose_error_steps"] <= 1


def test_a_single_bolus_from_stopped_pump_mode_hands_over_to_the_schedule():
    events_ = [command(0.5, "stop", reason="holding"),
               command(1, "bolus", mcg=50, duration_s=600, then="schedule")]
    sim, results = run(3, events=events_)
    after_bolus_h = 3 - 1 - 600 / 3600
    expected = BASAL_STEPS_PER_H / 2 + BOLUS_STEPS + BASAL_STEPS_PER_H * after_bolus_h
    assert abs(sim.board.stepper.forward_emitted - expected) <= 3
    assert status(sim)["state"] == "delivering"
    assert results["max_dose_error_steps"] <= 1


def test_a_single_bolus_cut_by_a_power_cut_still_ends_in_stopped_pump_mode():
    events_ = [command(1, "bolus", mcg=50, duration_s=600, then="stop", reason="bolus, then hold"),
               {"at_h": 1 + 300 / 3600, "do": "power_cut", "off_ms": 30_000}]
    sim, results = run(2, events=events_)
    assert results["restarts"] == 1
    now = status(sim)
    assert now["state"] == "stopped" and now["stop"] == "programmed"
    assert len(logged(sim, events.BOLUS_CUT)) == 1
    assert sim.board.stepper.forward_emitted < BASAL_STEPS_PER_H + BOLUS_STEPS


def test_a_single_bolus_meets_the_bolus_rules_and_needs_a_reason_to_stop():
    sim, _results = run(1)
    assert send(sim, "bolus", mcg=50, then="stop")["error"] == "bad_args"
    assert send(sim, "bolus", mcg=50, duration_s=30, then="schedule")["error"] == "refused"  # under a minute
    assert send(sim, "bolus", mcg=500, duration_s=600, then="schedule")["error"] == "refused"  # above the largest
    assert send(sim, "bolus", mcg=50, duration_s=600, then="schedule")["ok"]
    assert send(sim, "bolus", mcg=50, duration_s=600, then="schedule")["error"] == "bolus_running"


def test_single_boluses_count_in_the_24_hour_rules_and_a_prime_does_not():
    """At most four clinician boluses in 24 h: single ones count, a prime
    (line volume) does not; nor does it enter the daily dose rows."""
    sim, _results = run(1, catheter=CATHETER)
    assert send(sim, "prime", then="schedule")["ok"]
    sim.advance_to(sim.time.t_ms + 2 * 60_000)
    for _ in range(4):
        assert send(sim, "bolus", mcg=20, duration_s=60, then="schedule")["ok"]
        sim.advance_to(sim.time.t_ms + 2 * 60_000)
    fifth = send(sim, "bolus", mcg=20, duration_s=60, then="schedule")
    assert fifth["error"] == "refused" and "boluses_per_day" in fifth["message"]
    assert sim.ctl.history.boluses_in_window_ng(sim.ctl.steady_s()) == 80_000
    # 720 mcg/day of basal and 80 of boluses: the next 20 would pass the 800 mcg usual maximum too
    assert "daily_dose_above_usual" in fifth["message"]


def test_a_refill_of_the_same_drug_during_a_bridge_keeps_the_bridge_on_its_steps():
    """A top-up restarts the pump's used-steps count; the old drug still in
    the line is counted on from it, so the bridge ends when it should."""
    events_ = [{"at_h": 2, "do": "refill", "add_nl": 18_000_000, "concentration_ng_per_ul": 2000},
               command(2, "bridge", confirm=True),
               {"at_h": 4, "do": "refill", "add_nl": 1_000_000, "concentration_ng_per_ul": 2000}]
    sim, results = run(10, steps=(("00:00", RATE_MCG_PER_H),), concentration=500, catheter=CATHETER, events=events_)
    pct = tip_pct(sim, results)
    assert all(95 <= p <= 105 for p in pct), pct
    (end,) = logged(sim, events.BRIDGE_END)
    assert abs(end[0] - sim.start_s - 7 * 3600) <= 60
