"""Therapy modes besides the schedule: the single bolus, the prime and the bridge.

The line. Between the reservoir and the patient the drug fills a dead
volume: the pump's own (outlet, pressure tee and extension: the board's
calibration `outlet_nl`) and the catheter's (its length as implanted times
its volume per cm, both `settings`). What leaves the catheter tip is what
entered the line a dead volume earlier.

Single bolus (the `bolus` command with `then`): a dose over a set duration
(the drug library's minute at least) while the basal waits; then the pump
is in stopped-pump mode (the programmed stop, with the reason the command
gave) or the schedule takes over again. A single bolus cut short (a stop,
a fault, a power cut) leaves the pump in the mode that was to follow it,
so a then-stop bolus never ends in a running basal.

Prime (after implant or a catheter revision): the line's dead volume at the
mechanism's bolus rate, with the basal held, then stopped-pump mode or the
schedule as for a single bolus. It fills the line, so it is line volume,
not dose: no bolus rule applies and the titration history does not see it.

Bridge. A refill that changes the concentration leaves the line full of the
old drug, which leaves the tip first. Paced for the new drug, the patient
would get old/new of the prescribed dose until the line is flushed (a
quarter from 500 to 2000 mcg/mL: a withdrawal risk; four times from 2000 to
500). The refill reply proposes the bridge; the `bridge` command, confirmed,
delivers it: the pump paces at the old concentration until the old drug's
volume has gone out (Controller.pacing_concentration), so the tip gets the
prescribed mcg/h throughout, and then at the new one, from the step the new
drug reaches the tip. The old drug in the line is Controller.line_drug:
[its ng/uL, the used-steps count at which it has all left, 1 while
bridging], kept in the state record. Counting in used steps keeps it exact
across stops. After a power cut the steps only authorised are counted as
used though they may not have gone out (pump.controller: up to ten minutes
of flow), so the bridge ends up to that much early: from a weaker to a
stronger drug the tip then gets the old drug at the new drug's rate (less
dose) for up to four times as long; from a stronger to a weaker one the
last of the old drug goes out at four times its rate, the same dose in a
quarter of the time. Either way the dose of the hour stays close (the
tests measure it); ending late instead would do the opposite, and lose
or add dose.

A second concentration change before the first drug has reached the tip is
followed for the newest change only: its old drug is taken to fill the line.
"""
from pump import events
from pump.delivery import bolus_min_ms
from pump.stops import STOP_COMMAND
from pump.units import MS_PER_HOUR, NL_PER_ML


def line_nl(ctl):
    """The line's dead volume in nL: the catheter's plus the pump's own."""
    settings = ctl.settings
    catheter_nl = settings.get("catheter_cm", 0) * settings.get("catheter_nl_per_cm", 0)
    return catheter_nl + ctl.board.calibration["outlet_nl"]


def line_steps(ctl):
    """The dead volume in whole steps, rounded down (a bridge ends early, never late)."""
    return line_nl(ctl) * ctl.steps_per_ml // NL_PER_ML


def old_drug(ctl):
    """Controller.line_drug while old drug is still in the line (forgotten
    once it has all left the tip unbridged), else None."""
    line = ctl.line_drug
    if line is not None and not line[2] and ctl.reservoir.used_steps >= line[1]:
        ctl.line_drug = line = None
    return line


def begin_single(ctl, bolus_ng, duration_ms, stop_reason, now_s):
    """Start a single bolus or a prime (pump.commands checked it): from a
    programmed stop too, which it lifts; the basal waits until it ends."""
    if ctl.stop_mask == STOP_COMMAND:
        ctl.resume(STOP_COMMAND, now_s)
    ctl.basal_held = True
    ctl.stop_after_bolus = stop_reason
    ctl.start_bolus(bolus_ng, duration_ms)
    ctl.record(now_s, events.SINGLE_BOLUS, 0 if stop_reason is None else 1)


def prime_plan(ctl):
    """(ng, ms): the line's dead volume of the reservoir's drug, at the bolus rate."""
    conc = ctl.reservoir.concentration_ng_per_ul
    bolus_ng = line_nl(ctl) * conc // 1000
    return bolus_ng, bolus_min_ms(bolus_ng, conc, ctl.bolus_rate_nl_per_h) if bolus_ng else 0


def prime(ctl, stop_reason, now_s):
    """Fill the line with the reservoir's drug (the old drug in it goes out
    with the prime, so no bridge is left to give)."""
    bolus_ng, duration_ms = prime_plan(ctl)
    ctl.line_drug = None
    begin_single(ctl, bolus_ng, duration_ms, stop_reason, now_s)
    ctl.record(now_s, events.PRIME, line_nl(ctl), duration_ms)
    ctl.save()
    return duration_ms


def before_refill(ctl):
    """The steps of old drug still in the line, or None; asked before a
    refill restarts the used-steps count (the pulses queued and not yet out
    are counted as used, and the refill takes them back)."""
    line = old_drug(ctl)
    if line is None:
        return None
    return line[1] - ctl.reservoir.used_steps + ctl.board.stepper.pending()


def after_refill(ctl, old_concentration, old_left):
    """A refill restarted the used-steps count at 0. A new concentration:
    the next dead volume to leave the tip is the old drug (a bridge under
    way ends: its drug is now behind the newer change's). The same: the old
    drug still in the line, if any, is counted from 0."""
    line = ctl.line_drug
    if old_concentration and old_concentration != ctl.reservoir.concentration_ng_per_ul:
        ctl.line_drug = [old_concentration, line_steps(ctl), 0]
        if line is not None and line[2] and ctl.delivering:
            ctl.restart_schedule()  # paced for the reservoir's drug again
    elif line is not None:
        line[1] = old_left


def bridge_proposal(ctl):
    """What the bridge would do, for the clinician to confirm, or None when
    no old drug is in the line: the old drug's volume and both
    concentrations; how long until the new drug reaches the tip with the
    bridge and without it, at the programmed schedule; and the dose at the
    tip without it, in % of the prescribed."""
    line = old_drug(ctl)
    if line is None:
        return None
    old_conc, until_steps, bridging = line
    new_conc = ctl.reservoir.concentration_ng_per_ul
    left_nl = max(until_steps - ctl.reservoir.used_steps, 0) * NL_PER_ML // ctl.steps_per_ml
    proposal = {"line_ul": line_nl(ctl) / 1000, "old_drug_ul": left_nl / 1000,
                "old_mcg_per_ml": old_conc, "new_mcg_per_ml": new_conc, "bridging": bool(bridging),
                "without_bridge_tip_dose_pct": old_conc * 100 // new_conc,
                "with_bridge_h": None, "without_bridge_h": None}
    rx = ctl.prescription
    if rx is not None and rx.week_ng():
        # the tip sees the new drug once the old drug's volume has been pushed:
        # left_nl * conc / 1000 ng at the pacing concentration
        for key, conc in (("with_bridge_h", old_conc), ("without_bridge_h", new_conc)):
            ms = rx.ms_to_deliver(ctl.day, ctl.ms, left_nl * conc * MS_PER_HOUR // 1000)
            proposal[key] = round(ms / MS_PER_HOUR, 1)
    return proposal


def start_bridge(ctl, now_s):
    """Pace at the old drug's concentration until it has left the line
    (pump.commands checked there is old drug and a program)."""
    line = ctl.line_drug
    line[2] = 1
    left_steps = line[1] - ctl.reservoir.used_steps
    ctl.record(now_s, events.BRIDGE, left_steps * NL_PER_ML // ctl.steps_per_ml, line[0])
    if ctl.delivering:
        ctl.restart_schedule()
    ctl.save()


def line_report(ctl):
    """For `status`: the dead volume, and the old drug still in it."""
    line = old_drug(ctl)
    left_nl = 0 if line is None else max(line[1] - ctl.reservoir.used_steps, 0) * NL_PER_ML // ctl.steps_per_ml
    return {"line_ul": line_nl(ctl) / 1000, "old_drug_ul": left_nl / 1000,
            "old_drug_mcg_per_ml": None if line is None else line[0],
            "bridging": line is not None and bool(line[2]), "basal_held": ctl.basal_held}
