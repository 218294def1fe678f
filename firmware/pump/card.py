"""The refill-visit card: what the clinician hands to the patient and files.

The `card` command (read-only) answers with the facts; tools/card.py lays
them out as text and as a one-page picture. The card says which drug at
which concentration, the program (daily or weekly, each step in mcg/h and
each day in mcg/day), the volume left, and three dates:

- empty: when the pump's reservoir estimate reaches zero at the programmed
  schedule. The estimate is never above the truth, so the date errs early.
- low-reservoir alarm: when the estimate reaches the alarm's threshold (the
  larger of the volume and the days set by `settings`), or now when the
  alarm is already due;
- refill by: the empty date minus the alarm's lead in days, the latest
  visit that keeps the lead the clinician chose.

A stopped pump projects nothing; its card says since when it is stopped,
whether by the clinician or a fault, and the dose not delivered since
(pump.stopped).

Projections walk the schedule from now (Prescription.ms_to_deliver), with
its weekdays; a bolus under way is not counted (it only brings the dates
forward by its own size). They use big integers: a read-only command, not
the wake path. A pump that is not delivering projects nothing.
"""
from pump.druglib import DRUG_NAME
from pump.stopped import stop_report
from pump.units import MS_PER_HOUR, NL_PER_ML, NG_PER_MCG, S_PER_DAY, WEEKDAY_NAMES, clock_s_to_iso, ms_to_hhmm


def ms_until_steps_out(ctl, steps):
    """ms from now until `steps` more motor steps are due at the programmed
    schedule; None when the pump is not delivering."""
    return _ms_for_steps(ctl, steps) if ctl.delivering else None


def _ms_for_steps(ctl, steps):
    if steps <= 0:
        return 0
    # one step carries 1000 * conc / steps_per_ml ng: in ng x (ms/h), rounded up
    amount = -(-steps * ctl.reservoir.concentration_ng_per_ul * 1000 * MS_PER_HOUR // ctl.steps_per_ml)
    return ctl.prescription.ms_to_deliver(ctl.day, ctl.ms, amount)


def projection(ctl):
    """(empty, low alarm, refill by) as s since 2000-01-01 (calendar
    seconds, Controller.clock_s: a card is read by people), or Nones."""
    if not ctl.delivering:
        return None, None, None
    reservoir = ctl.reservoir
    remaining = max(reservoir.remaining_steps(), 0)
    now_s = ctl.clock_s(ctl.now_s())
    empty_s = now_s + _ms_for_steps(ctl, remaining) // 1000
    low_s = now_s + _ms_for_steps(ctl, remaining - reservoir.low_threshold_steps) // 1000
    return empty_s, low_s, empty_s - ctl.settings["low_days"] * S_PER_DAY


def _mcg(ng):
    return ng / NG_PER_MCG


def _day(name, steps, dose_ng):
    return {"day": name, "daily_mcg": _mcg(dose_ng),
            "steps": [{"start": ms_to_hhmm(start), "mcg_per_h": _mcg(rate)} for start, rate in steps]}


def card(ctl, firmware_version):
    """The card's facts, JSON-ready."""
    rx, reservoir = ctl.prescription, ctl.reservoir
    empty_s, low_s, refill_s = projection(ctl)
    facts = {
        "drug": DRUG_NAME, "concentration_mcg_per_ml": reservoir.concentration_ng_per_ul,
        "reservoir_ml": round(reservoir.remaining_nl() / NL_PER_ML, 3),
        "capacity_ml": round(reservoir.capacity_nl / NL_PER_ML, 3),
        "state": "not programmed" if rx is None else ("delivering" if ctl.delivering else "stopped"),
        "empty_at": None if empty_s is None else clock_s_to_iso(empty_s),
        "low_alarm_at": None if low_s is None else clock_s_to_iso(low_s),
        "refill_by": None if refill_s is None else clock_s_to_iso(refill_s),
        "alarm_lead_days": ctl.settings["low_days"],
        "serial": ctl.board.serial_number, "firmware": firmware_version,
        "time": clock_s_to_iso(ctl.clock_s(ctl.now_s())), "program": None, "days": [],
    }
    if rx is not None:
        doses = rx.day_doses_ng()
        facts["program"] = "weekly" if rx.weekly else "daily"
        names = WEEKDAY_NAMES if rx.weekly else ("every day",)
        facts["days"] = [_day(names[i], rx.days[i], doses[i]) for i in range(len(rx.days))]
        facts["week_mcg"] = _mcg(rx.week_ng())
    facts.update(stop_report(ctl))
    return facts
