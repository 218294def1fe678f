"""Stopped-pump mode, as people read it: since when, and what was missed.

A stop by the `stop` command (authenticated, with a reason the log keeps)
is a programmed state; a stop by a fault (occlusion, stall, empty
reservoir, storage) is not; both hold the delivery_stopped alarm and its
reminders (pump.alarms) until delivery resumes, and several reasons can hold
at once (pump.stops). The controller keeps when delivery stopped
(Controller.stopped_since, in the state record, so a restart keeps it);
this works out for `status` (and the refill card) how long ago that was and
the dose the schedule would have given meanwhile, which is not made up on
resume: the pump never catches up.
"""
from pump.stops import STOP_COMMAND
from pump.units import MS_PER_DAY, MS_PER_HOUR, NG_PER_MCG, clock_s_to_iso


def stop_kind(stop_mask):
    """'programmed' (the stop command alone), 'fault', or both; None when delivering."""
    if not stop_mask:
        return None
    if stop_mask == STOP_COMMAND:
        return "programmed"
    return "programmed, and a fault" if stop_mask & STOP_COMMAND else "fault"


def stop_report(ctl):
    """{"stop", "stopped_since", "stopped_minutes", "not_delivered_mcg"}:
    all None unless a programmed pump is stopped. A clock set back before
    the stop counts as no time."""
    if ctl.stopped_since is None or ctl.prescription is None or not ctl.stop_mask:
        return {"stop": None, "stopped_since": None, "stopped_minutes": None, "not_delivered_mcg": None}
    day, ms = ctl.stopped_since
    elapsed_ms = max((ctl.day - day) * MS_PER_DAY + ctl.ms - ms, 0)
    missed_ng = ctl.prescription.ng_x_ms_over(day, ms, elapsed_ms) // MS_PER_HOUR
    return {"stop": stop_kind(ctl.stop_mask), "stopped_since": clock_s_to_iso(day * 86_400 + ms // 1000),
            "stopped_minutes": elapsed_ms // 60_000, "not_delivered_mcg": missed_ng / NG_PER_MCG}
