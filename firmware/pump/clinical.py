"""Helpers a clinician needs when programming the pump, returning plain data.

Each implements one row of the drug library (druglib.BACLOFEN_INTRATHECAL):
starting dose after implant, drug-holiday taper, flex-step lead time, and a
CSF concentration preview from the pharmacokinetics row. They propose; the
proposal is still checked by druglib.check_prescription and
titration.check_change before the pump takes it. Integer arithmetic only.
"""
from pump.druglib import BACLOFEN_INTRATHECAL, rule_origin
from pump.titration import RESTART, TAPER, taper_day_ng
from pump.units import MS_PER_DAY, MS_PER_HOUR, ms_to_hhmm

_HOURS_PER_DAY = 24
_MS_PER_MIN = 60_000
_LAST_HOUR_MS = MS_PER_DAY - MS_PER_HOUR
# ln 2 as a ratio, for the distribution volume (7 digits: the data have 2).
_LN2_NUM = 693_147
_LN2_DEN = 1_000_000
_Q = 24  # fixed-point bits of the elimination fraction per minute

PREVIEW_NOTE = ("preview from a one-compartment model of the monograph's CSF pharmacokinetics, "
                "not a clinical prediction")


def starting_daily_ng(effective_screening_ng, effect_duration_s):
    """Starting-dose row: twice the effective screening dose over 24 h, or
    once if its effect lasted more than 8 h (a long effect means the bolus
    already covered much of a day). Exactly 8 h still doubles."""
    row = BACLOFEN_INTRATHECAL["starting_dose"]
    if effect_duration_s > row["long_effect_over_s"]:
        return effective_screening_ng * row["long_effect_factor"]
    return effective_screening_ng * row["screening_dose_factor"]


def steps_for_daily_dose(daily_ng):
    """A continuous schedule delivering exactly `daily_ng` per day.

    A single step delivers 24 x its rate, so most doses are not whole that
    way (100 mcg/day is 4166.67 ng/h). The remainder (under 24 ng/h) goes
    into the last hour of the day, so the daily dose is exact and the rates
    differ by less than 0.03 mcg/h. Returns [[start_ms, ng_per_h], ...].
    """
    rate = daily_ng // _HOURS_PER_DAY
    extra = daily_ng - rate * _HOURS_PER_DAY
    if not extra:
        return [[0, rate]]
    return [[0, rate], [_LAST_HOUR_MS, rate + extra]]


def holiday_taper(current_daily_ng, taper_days, patient, initial_daily_ng):
    """Drug-holiday row: a taper over 2-4 weeks, then a restart.

    The daily dose falls by equal steps each day from `current_daily_ng` to
    the lowest dose the library allows for the patient (the hard minimum of
    their rule origin): the pump never stops silently, and that minimum
    keeps the catheter open; stopping for the holiday itself is the
    clinician's separate, alarmed stop. Returns {"taper": [[day, daily_ng],
    ...] for days 1..taper_days, kind TAPER; "restart": {"daily_ng":
    initial_daily_ng (the recorded post-implant starting dose, None when
    not recorded), "kind": RESTART}}; program each with
    steps_for_daily_dose and titration.check_change(kind=...), which
    refuses a taper faster than the shortest plan without a reason.
    """
    row = BACLOFEN_INTRATHECAL["drug_holiday"]
    if not row["taper_min_days"] <= taper_days <= row["taper_max_days"]:
        raise ValueError("taper over %d..%d days, not %d"
                         % (row["taper_min_days"], row["taper_max_days"], taper_days))
    origin = rule_origin(patient)
    if origin is None:
        raise ValueError("spasticity origin %r is not spinal or cerebral" % (patient["origin"],))
    floor_ng = BACLOFEN_INTRATHECAL["maintenance_" + origin]["hard_min_ng_per_day"]
    span_ng = current_daily_ng - floor_ng
    if span_ng < taper_days:
        raise ValueError("%d ng/day is already at the %d ng/day minimum: nothing to taper"
                         % (current_daily_ng, floor_ng))
    taper = [[day, taper_day_ng(current_daily_ng, floor_ng, taper_days, day)]
             for day in range(1, taper_days + 1)]
    return {"taper": taper, "kind": TAPER, "floor_ng": floor_ng,
            "restart": {"daily_ng": initial_daily_ng, "kind": RESTART}}


def flex_preview(effects):
    """Flex row: a change wanted for an effect at time T is programmed to
    start at T - 2 h (the drug takes that long to act), wrapping midnight.

    effects: [(effect_ms_of_day, ng_per_h), ...]. Returns {"rows": one dict
    per effect with both times (ms and HH:MM) and the rate, by start;
    "steps": [[start_ms, ng_per_h], ...] for a Prescription}.
    """
    rows = _lead_rows([effects])
    return {"rows": rows, "steps": [[r["start_ms"], r["ng_per_h"]] for r in rows]}


def flex_week_preview(week_effects):
    """flex_preview for a weekly program: seven lists of effects, Monday
    first. A start moved before midnight moves to the day before (an effect
    at Monday 01:00 starts on Sunday at 23:00). Rows also carry the day of
    the effect and of the start ("effect_day", "start_day": 0 is Monday);
    "week": seven step lists for Prescription(week=...). A day left with no
    step of its own is empty: the drug library asks for one."""
    rows = _lead_rows(week_effects)
    return {"rows": rows, "week": [[[r["start_ms"], r["ng_per_h"]] for r in rows if r["start_day"] == day]
                                   for day in range(len(week_effects))]}


def _lead_rows(days):
    """The rows of flex_preview for one day (daily) or seven (weekly),
    wrapping around the day or the week, sorted by start."""
    lead_ms = BACLOFEN_INTRATHECAL["flex_schedules"]["effect_lead_ms"]
    period_ms = len(days) * MS_PER_DAY
    rows = []
    for effect_day in range(len(days)):
        for effect_ms, rate in days[effect_day]:
            start_day, start_ms = divmod((effect_day * MS_PER_DAY + effect_ms - lead_ms) % period_ms, MS_PER_DAY)
            rows.append({"effect_day": effect_day, "effect_ms": effect_ms, "effect_at": ms_to_hhmm(effect_ms),
                         "start_day": start_day, "start_ms": start_ms, "starts_at": ms_to_hhmm(start_ms),
                         "ng_per_h": rate})
    rows.sort(key=lambda r: (r["start_day"], r["start_ms"]))
    return rows


def distribution_volume_ul():
    """CSF volume the pharmacokinetics row implies: clearance / elimination
    constant = CL x t_half / ln 2 = 30 mL/h x 1.5 h / 0.693 = 64 921 uL,
    about 65 mL."""
    row = BACLOFEN_INTRATHECAL["pharmacokinetics"]
    return row["csf_clearance_ul_per_h"] * row["half_life_min"] * _LN2_DEN // (60 * _LN2_NUM)


def csf_curve(prescription, hours, start_ms_of_day=0, sample_min=60, start_day=0):
    """Predicted CSF concentration for a schedule, from a drug-free start.

    A PREVIEW, NOT A CLINICAL PREDICTION: one compartment of ~65 mL
    (distribution_volume_ul) cleared at 30 mL/h, stepped each minute. The
    amount is kept in 1/60 ng, so a rate in ng/h is exactly the amount a
    minute adds; the fraction cleared per minute is CL / (60 V) in Q24 fixed
    point (first-order per-minute steps: the half-life comes out 89.7 min for
    90). At constant rate it settles at rate / CL (25 mcg/h -> 833 ng/mL)
    within about 7 half-lives (~10 h); the monograph's 1-2 days to steady
    state describe the clinical response, which this model does not.
    Rates are taken at each minute's start; start_day (days since
    2000-01-01) places a weekly program's days.

    Returns {"volume_ul", "clearance_ul_per_h", "half_life_min", "note",
    "samples": [[minute, ng_per_ml], ...] every sample_min from 0}.
    """
    row = BACLOFEN_INTRATHECAL["pharmacokinetics"]
    volume_ul = distribution_volume_ul()
    cleared_q = (row["csf_clearance_ul_per_h"] << _Q) // (60 * volume_ul)
    half_q = 1 << (_Q - 1)
    amount = 0  # ng / 60
    samples = [[0, 0]]
    for minute in range(1, hours * 60 + 1):
        day, ms_of_day = divmod(start_ms_of_day + (minute - 1) * _MS_PER_MIN, MS_PER_DAY)
        amount -= (amount * cleared_q + half_q) >> _Q
        amount += prescription.rate_at(start_day + day, ms_of_day)
        if minute % sample_min == 0:
            samples.append([minute, amount * 1000 // (60 * volume_ul)])
    return {"volume_ul": volume_ul, "clearance_ul_per_h": row["csf_clearance_ul_per_h"],
            "half_life_min": row["half_life_min"], "note": PREVIEW_NOTE, "samples": samples}
