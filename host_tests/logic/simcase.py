"""Small normalised scenarios for the shared tests (tools/scenario.py makes
them from JSON files on CPython; the shared tests must also run under
MicroPython, where jsonschema does not exist, so they build them directly)."""
from hw.sim.runner import Run
from pump.units import WEEKDAY_NAMES

DAY0 = 9557  # 2026-03-02, days since 2000-01-01
HOUR_MS = 3_600_000


def scenario(hours, steps=(("00:00", 30),), concentration=500, fill_ml=18, events=(), seed=1,
             origin="spinal", low_ml=2.0, low_days=7, override=None, start_ms=8 * HOUR_MS,
             capacity_nl=20_000_000, week=None):
    """`steps` as (HH:MM, mcg/h), or `week` as {weekday name: steps} for a
    weekly program; `events` as dicts with `at_h` (converted here)."""
    if week is None:
        prescription = {"steps": [{"start": s, "mcg_per_h": r} for s, r in steps]}
        program = [[_ms(s), int(r * 1000)] for s, r in steps]
    else:
        prescription = {"week": dict((day, [{"start": s, "mcg_per_h": r} for s, r in day_steps])
                                     for day, day_steps in week.items())}
        program = {"week": [[[_ms(s), int(r * 1000)] for s, r in week[day]] for day in WEEKDAY_NAMES]}
    if override:
        prescription["override"] = override
    normalised_events = []
    for event in events:
        event = dict(event)
        event["at_ms"] = int(event.pop("at_h") * HOUR_MS)
        if event["do"] == "refill":
            event["command"] = {"cmd": "refill", "args": {
                "add_ml": event["add_nl"] / 1e6, "confirm": True,
                "concentration_mcg_per_ml": event["concentration_ng_per_ul"]}}
        normalised_events.append(event)
    return {
        "start_day": DAY0, "start_ms": start_ms, "duration_ms": int(hours * HOUR_MS), "seed": seed,
        "fill_nl": int(fill_ml * 1_000_000), "concentration_ng_per_ul": concentration,
        "calibration": {"capacity_nl": capacity_nl},
        "prescription": program,
        "setup": [
            {"cmd": "patient", "args": {"origin": origin, "age_years": 40, "days_since_implant": 300}},
            {"cmd": "refill", "args": {"add_ml": fill_ml, "concentration_mcg_per_ml": concentration,
                                       "confirm": True}},
            {"cmd": "settings", "args": {"low_reservoir_ml": low_ml, "low_reservoir_days": low_days}},
            {"cmd": "set_prescription", "args": prescription}],
        "events": normalised_events,
    }


def _ms(hhmm):
    return (int(hhmm[:2]) * 60 + int(hhmm[3:])) * 60_000


def run(hours, **options):
    """(Run, results) of a scenario built by `scenario`."""
    flash = options.pop("flash", None)
    sim = Run(scenario(hours, **options), flash)
    return sim, sim.run()
