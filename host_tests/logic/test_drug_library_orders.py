"""No dose outside the drug library without a logged override, whatever the
order of commands: each class of way around it, driven through the real
protocol, commands and controller on the simulated board."""
# micropython-heap: 320K
import json

from hw.sim.runner import Run
from simcase import HOUR_MS, scenario

REASON = "reviewed with the neurologist"


class Pump:
    """A provisioned pump (patient, 18 mL, settings, program) and a clinician's
    programmer; days_since_implant None: a patient in the screening trial,
    not implanted, so no program."""

    def __init__(self, steps=(("00:00", 30),), days_since_implant=300, concentration=500, override=None,
                 age_years=40, origin="spinal"):
        case = scenario(24 * 30, steps=steps, concentration=concentration, origin=origin, override=override)
        patient = case["setup"][0]["args"]
        patient.update(age_years=age_years, days_since_implant=days_since_implant)
        if days_since_implant is None:
            del patient["days_since_implant"]
            case["setup"] = case["setup"][:3]  # patient, refill, settings
        self.patient = dict(patient)
        self.sim = Run(case)

    def at(self, hours):
        self.sim.advance_to(int(round(hours * HOUR_MS)))

    def send(self, cmd, args=None):
        return json.loads(self.sim.command({"cmd": cmd, "args": args or {}}))

    def program(self, mcg_per_h, **extra):
        args = {"steps": [{"start": "00:00", "mcg_per_h": mcg_per_h}]}
        args.update(extra)
        return self.send("set_prescription", args)

    def daily_mcg(self):
        return self.sim.ctl.prescription.daily_ng() // 1000

    def log(self):
        return self.send("log", {"n": 50})["entries"]


def refused(reply, code, rule):
    return reply["ok"] is False and reply["error"] == code and rule in reply["message"]


# --- 5: the history belongs to the patient ------------------------------------

def test_re_sending_the_same_patient_keeps_the_24_h_rules():
    pump = Pump(days_since_implant=0)  # implanted now: 720 mcg/day is the starting dose
    pump.at(1)
    assert refused(pump.program(33), "refused", "increase_too_soon_after_implant")
    assert pump.send("patient", pump.patient)["ok"]
    assert refused(pump.program(33), "refused", "increase_too_soon_after_implant")
    assert refused(pump.send("bolus", {"mcg": 50}), "refused", "bolus_too_soon_after_implant")
    assert pump.daily_mcg() == 720


def test_a_new_patient_resets_the_history_only_with_a_reason_in_the_log():
    pump = Pump(days_since_implant=0)
    pump.at(1)
    assert pump.send("patient", dict(pump.patient, new_patient=True))["error"] == "bad_args"
    assert pump.send("patient", dict(pump.patient, days_since_implant=30, new_patient=True,
                                     reason="pump given to another patient"))["ok"]
    reset = [e for e in pump.log() if e["event"] == "patient_reset"]
    assert reset and reset[0]["note"] == "pump given to another patient"
    assert pump.program(33)["ok"]  # the new patient was implanted 30 days ago


def test_the_same_patient_cannot_move_the_implant_earlier():
    pump = Pump(days_since_implant=0)
    pump.at(1)
    assert refused(pump.send("patient", dict(pump.patient, days_since_implant=300)), "refused",
                   "implant is recorded 0 days ago")
    assert refused(pump.program(33), "refused", "increase_too_soon_after_implant")


# --- 6: a patient change re-checks the running program ------------------------

def test_a_child_or_cerebral_patient_is_refused_while_1800_mcg_per_day_runs():
    pump = Pump(steps=(("00:00", 75),), override="refractory spasticity")
    assert pump.daily_mcg() == 1800
    for change in ({"age_years": 10}, {"origin": "cerebral"}):
        assert refused(pump.send("patient", dict(pump.patient, **change)), "refused", "daily_dose_above_hard_max")
    assert pump.sim.ctl.patient == pump.patient and pump.daily_mcg() == 1800


def test_a_patient_change_past_a_soft_limit_needs_a_logged_override():
    pump = Pump()  # 720 mcg/day: usual for spinal, above the cerebral 703
    cerebral = dict(pump.patient, origin="cerebral")
    assert refused(pump.send("patient", cerebral), "needs_override", "daily_dose_above_usual")
    assert pump.send("patient", dict(cerebral, override=REASON))["ok"]
    kept = [e for e in pump.log() if e["event"] == "patient_override"]
    assert kept and kept[0]["note"] == REASON


# --- 7: taper and restart have sizes ---------------------------------------------

def test_a_62_pct_taper_step_needs_a_reason_and_a_restart_needs_the_recorded_starting_dose():
    pump = Pump()  # 720 mcg/day, implanted 300 days ago: the first dose here is not the starting dose
    pump.at(1)
    assert refused(pump.program(11.4, kind="taper"), "needs_override", "taper_step_too_fast")
    assert pump.program(11.4, kind="taper", override=REASON)["ok"]
    pump.at(2)
    assert refused(pump.program(30, kind="restart"), "refused", "restart_dose_not_recorded")
    assert pump.send("patient", dict(pump.patient, starting_mcg_per_day=480))["ok"]
    assert refused(pump.program(30, kind="restart"), "refused", "restart_above_initial_dose")
    assert pump.program(20, kind="restart")["ok"]


# --- 8: the 24 h rules measure on a clock a command cannot move --------------------

def test_setting_the_clock_a_day_ahead_lets_no_second_increase_through():
    pump = Pump(steps=(("00:00", 25),))
    pump.at(1)
    assert pump.program(27.5)["ok"]  # +10 %
    pump.send("set_clock", {"iso": _iso(pump.sim.ctl.clock_s(pump.sim.ctl.now_s()) + 86_400)})
    pump.at(1.3)
    assert refused(pump.program(30.25), "refused", "increase_too_soon_after_increase")
    pump.sim._power_cut(60_000)  # the offset is kept with the state
    pump.at(1.32)  # the power is back and the pump has booted from flash
    assert refused(pump.program(30.25), "refused", "increase_too_soon_after_increase")
    pump.at(25.1)
    assert pump.program(30.25)["ok"]


def test_setting_the_clock_back_does_not_keep_a_refill_visit_open():
    pump = Pump()
    pump.at(1)
    assert pump.send("refill", {"add_ml": 1, "concentration_mcg_per_ml": 500})["ok"]
    pump.send("set_clock", {"iso": _iso(pump.sim.ctl.clock_s(pump.sim.ctl.now_s()) - 86_400)})
    pump.at(25.5)
    assert refused(pump.program(40, kind="refill"), "no_refill", "refill within the last day")


def test_a_refill_visit_survives_a_power_cut_and_ends_a_day_after_the_refill():
    pump = Pump()
    pump.at(1)
    assert pump.send("refill", {"add_ml": 1, "concentration_mcg_per_ml": 500})["ok"]
    pump.sim._power_cut(60_000)  # the refill's time is kept with the state
    pump.at(1.1)
    assert pump.program(33, kind="refill")["ok"]
    pump.at(25.5)
    assert refused(pump.program(36, kind="refill"), "no_refill", "refill within the last day")


def _iso(clock_s):
    from pump.units import clock_s_to_iso
    return clock_s_to_iso(clock_s)


# --- 9: a refill at a new concentration meets the flow rows --------------------------

def test_a_refill_that_takes_the_running_program_past_the_flow_ceiling_is_refused():
    pump = Pump(steps=(("00:00", 60),), override="refractory spasticity")  # 1440 mcg/day
    reply = pump.send("refill", {"add_ml": 10, "concentration_mcg_per_ml": 50, "confirm": True,
                                 "override": REASON})
    assert refused(reply, "refused", "flow_above_ceiling")
    assert pump.sim.ctl.reservoir.concentration_ng_per_ul == 500


def test_a_refill_that_takes_a_flex_step_under_one_motor_step_per_hour_is_refused():
    pump = Pump(steps=(("00:00", 20), ("03:00", 0.1), ("04:00", 20)))
    reply = pump.send("refill", {"add_ml": 10, "concentration_mcg_per_ml": 2000, "confirm": True})
    assert refused(reply, "refused", "flow_below_floor")
    assert pump.sim.ctl.reservoir.concentration_ng_per_ul == 500


# --- 10: boluses -------------------------------------------------------------------------

def test_a_bolus_goes_in_over_at_least_a_minute_at_any_concentration():
    pump = Pump(concentration=2000)
    pump.at(1)
    reply = pump.send("bolus", {"mcg": 50})
    assert reply["ok"] and reply["duration_s"] == 60
    start = pump.sim.ctl.day * 86_400_000 + pump.sim.ctl.ms
    end_day, end_ms = pump.sim.ctl.bolus_end
    assert end_day * 86_400_000 + end_ms - start == 60_000
    pump.at(3)
    assert refused(pump.send("bolus", {"mcg": 10, "duration_s": 59}), "refused", "bolus_too_fast")


def test_a_bolus_cut_short_is_reported_and_its_remainder_is_not_too_soon():
    pump = Pump()
    pump.at(1)
    assert pump.send("bolus", {"mcg": 60, "duration_s": 600})["ok"]
    pump.at(1 + 300 / 3600)
    pump.send("stop", {"reason": "line check"})
    cut = [e for e in pump.log() if e["event"] == "bolus_cut"]
    assert cut and cut[0]["detail"] == "cut short: at most 30 mcg went in, 30 mcg did not"
    assert pump.send("status")["bolus_undelivered_mcg"] == 30
    pump.send("resume")
    assert refused(pump.send("bolus", {"mcg": 30.001, "kind": "remainder"}), "refused", "remainder_above_undelivered")
    assert pump.send("bolus", {"mcg": 30, "kind": "remainder", "duration_s": 300})["ok"]


def test_a_bolus_cut_short_counts_in_full_in_the_day_until_its_remainder_finishes_it():
    """1830 mcg/day, then 100 mcg cut at half: another 100 mcg would take the
    day past 2003 mcg; what the cut one did not give goes in only as its
    remainder (not counted again)."""
    pump = Pump(steps=(("00:00", 76.25),), override=REASON)
    pump.at(1)
    assert pump.send("bolus", {"mcg": 100, "duration_s": 600, "override": REASON})["ok"]
    pump.at(1 + 300 / 3600)
    pump.send("stop", {"reason": "line check"})
    pump.send("resume")
    assert refused(pump.send("bolus", {"mcg": 100, "duration_s": 600, "override": REASON}), "refused",
                   "above_hard_max")
    assert pump.send("bolus", {"mcg": 50, "kind": "remainder", "duration_s": 300})["ok"]


def test_a_bolus_cut_by_a_power_cut_leaves_at_most_what_was_not_due():
    pump = Pump()
    pump.at(1)
    assert pump.send("bolus", {"mcg": 60, "duration_s": 600})["ok"]
    pump.at(1 + 120 / 3600)
    pump.sim._power_cut(0)
    cut = [e for e in pump.log() if e["event"] == "bolus_cut"]
    # the reboot finds the DS3231's second edge (up to a second): 0.1 mcg more may count as given
    assert cut and cut[0]["detail"] in ("cut short: at most 12 mcg went in, 48 mcg did not",
                                        "cut short: at most 12.100 mcg went in, 47.900 mcg did not")
    undelivered = pump.send("status")["bolus_undelivered_mcg"]
    assert undelivered in (48, 47.9)
    assert pump.send("bolus", {"mcg": undelivered, "kind": "remainder"})["ok"]


def test_the_screening_trial_before_implant_then_the_implant():
    """A patient not yet implanted: screening boluses at 50 mcg/mL, each on
    its own (no program), 24 h apart; then the implant, after which
    screening is over and a clinician bolus waits 24 h."""
    trial = Pump(days_since_implant=None, concentration=50)
    sim = trial.sim
    trial.at(1)
    assert trial.send("bolus", {"mcg": 50, "kind": "screening"})["error"] == "too_fast"  # 1 mL at 10 mL/h
    assert trial.send("bolus", {"mcg": 50, "kind": "screening", "duration_s": 360})["ok"]
    trial.at(2)
    assert abs(sim.board.mechanism.to_patient_steps - 12_732) <= 1  # 50 mcg at 50 mcg/mL is 1 mL
    assert not sim.ctl.delivering and trial.send("status")["state"] == "not programmed"
    assert refused(trial.send("bolus", {"mcg": 75, "kind": "screening", "duration_s": 540}), "refused", "bolus_too_soon")
    assert refused(trial.send("bolus", {"mcg": 20}), "refused", "bolus_before_implant")
    assert refused(trial.program(2), "refused", "implant_not_recorded")
    trial.at(25)
    assert trial.send("bolus", {"mcg": 75, "kind": "screening", "duration_s": 540})["ok"]
    trial.at(26)
    assert trial.send("patient", dict(trial.patient, days_since_implant=0))["ok"]
    assert trial.program(2, override="the screening strength until the 500 mcg/mL arrives")["ok"]
    assert trial.send("patient", trial.patient)["error"] == "refused"  # the implant cannot be undone
    assert refused(trial.send("bolus", {"mcg": 100, "kind": "screening", "duration_s": 720}), "refused",
                   "screening_after_implant")
    assert refused(trial.send("bolus", {"mcg": 20, "duration_s": 240}), "refused", "bolus_too_soon_after_implant")


def test_a_clock_set_back_during_a_bolus_neither_stretches_nor_cuts_it():
    """The bolus keeps the time it had left: set back a day, its end on the
    wall clock moves with the jump (not a day of bolus rate, not a cut)."""
    pump = Pump()
    pump.at(1)
    before = pump.sim.board.mechanism.to_patient_steps
    assert pump.send("bolus", {"mcg": 60, "duration_s": 600})["ok"]
    pump.at(1 + 60 / 3600)
    pump.send("set_clock", {"iso": _iso(pump.sim.ctl.clock_s(pump.sim.ctl.now_s()) - 86_400)})
    pump.at(1 + 300 / 3600)
    assert pump.sim.ctl.bolus_end is not None  # still running, at the bolus rate
    pump.at(2)
    assert pump.sim.ctl.bolus_end is None
    given_steps = pump.sim.board.mechanism.to_patient_steps - before
    # an hour of basal (30 mcg) and the whole bolus, within a step either way
    assert abs(given_steps * 500 - (30 + 60) * 12_732) <= 500
    assert not [e for e in pump.log() if e["event"] == "bolus_cut"]


def test_a_second_bolus_cannot_replace_one_still_running():
    pump = Pump()
    pump.at(1)
    assert pump.send("bolus", {"mcg": 20, "duration_s": 600})["ok"]
    assert pump.send("bolus", {"mcg": 20})["error"] == "bolus_running"


# --- 12: the screening concentration for maintenance is soft --------------------------------

def test_a_refill_to_50_mcg_per_ml_for_maintenance_needs_a_logged_reason():
    pump = Pump(steps=(("00:00", 13),))  # 312 mcg/day: 0.26 mL/h at 50 mcg/mL
    refill = {"add_ml": 10, "concentration_mcg_per_ml": 50, "confirm": True}
    assert refused(pump.send("refill", refill), "needs_override", "screening_concentration_for_maintenance")
    refill["override"] = "500 mcg/mL out of stock"
    assert pump.send("refill", refill)["ok"]
    assert [e for e in pump.log() if e["event"] == "override" and e["note"] == "500 mcg/mL out of stock"]
    assert refused(pump.program(13.5), "needs_override", "screening_concentration_for_maintenance")
