"""Scenario files (README, "Simulation"): check them, and turn them into integers.

The structure is checked with JSON Schema (the `jsonschema` package); the
numbers are converted with the pump's own unit rules (firmware/pump/units.py),
and the schedule is put through the drug library before any simulation
starts. Every refusal is a ScenarioError whose text names the field, so
`tools/sim.py` can print it on one line.

The normalised scenario is what hw/sim/runner.py runs, under either
interpreter: ms, nL, ng, ng/uL, and days since 2000-01-01.
"""
import datetime
import json
import re

import jsonschema

from mpenv import add_to_sys_path

add_to_sys_path()

from hw.calibration import CALIBRATION_LIMITS, DEFAULT_CALIBRATION, parse as parse_calibration  # noqa: E402
from pump import druglib  # noqa: E402
from pump.prescription import Prescription  # noqa: E402
from pump.units import WEEKDAY_NAMES, UnitError, hhmm_to_ms, mcg_to_ng, ml_to_nl  # noqa: E402

EPOCH = datetime.datetime(2000, 1, 1)
CLOCK_END = datetime.datetime(2100, 1, 1)  # the pump's clock keeps years 2000-2099
MAX_DURATION_H = 366 * 24  # a year of pump time; a 90-day run takes seconds
# Every number has a ceiling: far above anything a pump or a person could mean,
# low enough that no conversion overflows and no loop runs for ever. What the
# pump itself refuses inside these is the pump's business, and the report's.
BIG = 1_000_000


def _number(low, high, exclusive_low=False):
    return {"type": "number", "exclusiveMinimum" if exclusive_low else "minimum": low, "maximum": high}


POSITIVE = _number(0, BIG, exclusive_low=True)
NON_NEGATIVE = _number(0, BIG)
WHOLE = {"type": "integer", "minimum": 0, "maximum": BIG}
HOURS = _number(0, MAX_DURATION_H)
MAX_NESTING = 8  # a command's arguments are flat; a few levels spare
# An event every hour of the longest run (8 784) fits. 10 000 power cuts
# (each a boot of the pump) or `status` commands give the same report under
# MicroPython (tools/sim.py's SIM_HEAP); thousands of the longest replies
# (`alarms`, 3 KB each, all kept for the report) do not fit that heap.
MAX_EVENTS = 10_000


def _section(properties, required=()):
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


STEPS = {"type": "array", "minItems": 1, "items": _section(
    {"start": {"type": "string"}, "mcg_per_h": NON_NEGATIVE}, ["start", "mcg_per_h"])}


EVENT_FIELDS = {
    "occlude": {}, "clear_occlusion": {}, "stall": {}, "unstall": {}, "clock_fault": {}, "flash_failure": {},
    "crash": {},
    "press": {"button": {"enum": ["ack"]}},
    "power_cut": {"off_s": _number(0, MAX_DURATION_H * 3600)},
    "sensor_fault": {"sensor": {"enum": ["pressure"]}, "fault": {"enum": ["open", "stuck", "out_of_range", "none"]}},
    "refill": {"add_ml": POSITIVE, "concentration_mcg_per_ml": POSITIVE, "dilution": {"type": "boolean"}},
    "command": {"command": {"type": "object", "properties": {"cmd": {"type": "string"}, "args": {"type": "object"}},
                            "required": ["cmd"], "additionalProperties": False}},
    "supply": {"mv": _number(0, 100_000)},
    "temperature": {"c": _number(-273, 1000)},
}
EVENT_REQUIRED = {"power_cut": ["off_s"], "sensor_fault": ["fault"], "refill": ["add_ml", "concentration_mcg_per_ml"],
                  "command": ["command"], "supply": ["mv"], "temperature": ["c"]}

SCHEMA = _section({
    "start": {"type": "string"},
    "duration_h": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_DURATION_H},
    "seed": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
    "patient": _section({"origin": {"enum": ["spinal", "cerebral"]}, "age_years": WHOLE,
                         "days_since_implant": WHOLE}, ["origin", "age_years", "days_since_implant"]),
    "reservoir": _section({"capacity_ml": POSITIVE, "fill_ml": POSITIVE, "concentration_mcg_per_ml": POSITIVE,
                           "dilution": {"type": "boolean"}}, ["fill_ml", "concentration_mcg_per_ml"]),
    # a daily schedule (steps) or a weekly one (week: the steps of each weekday)
    "prescription": dict(_section({"steps": STEPS, "week": _section({day: STEPS for day in WEEKDAY_NAMES}, WEEKDAY_NAMES),
                                   "override": {"type": "string", "minLength": 1}}),
                         oneOf=[{"required": ["steps"]}, {"required": ["week"]}]),
    "settings": _section({"low_reservoir_ml": NON_NEGATIVE, "low_reservoir_days": WHOLE}),
    # the line's dead volume (pump.therapy, hw/sim/catheter.py): the report then gives the dose at its tip;
    # primed false: the line starts dry (a new implant, to be primed)
    "catheter": _section({"length_cm": WHOLE, "ml_per_cm": NON_NEGATIVE, "primed": {"type": "boolean"}},
                         ["length_cm", "ml_per_cm"]),
    "board": _section({"steps_per_ml": {"type": "integer"}, "true_steps_per_ml": {"type": "integer"}}),
    "events": {"type": "array", "maxItems": MAX_EVENTS, "items": {
        "type": "object", "required": ["at_h", "do"],
        "properties": {"at_h": HOURS, "do": {"enum": sorted(EVENT_FIELDS)}},
        "allOf": [{"if": {"properties": {"do": {"const": kind}}},
                   "then": {"properties": dict(fields, at_h=HOURS, do={"const": kind}),
                            "required": EVENT_REQUIRED.get(kind, []), "additionalProperties": False}}
                  for kind, fields in sorted(EVENT_FIELDS.items())]}},
    "description": {"type": "string"},
}, ["start", "duration_h", "patient", "reservoir", "prescription"])


class ScenarioError(ValueError):
    """A scenario the runner must not start; the text names the field."""


def _where(error):
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "scenario"


def shorten_numbers(text):
    """A number of more than 20 digits, shortened: a message stays one readable line."""
    return re.sub(r"\d{21,}", lambda m: "%s...(%d digits)" % (m.group()[:6], len(m.group())), text)


def check_structure(raw):
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(raw),
                    key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path)))
    if errors:
        error = errors[0]
        if error.validator == "additionalProperties":
            unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            raise ScenarioError("%s: unknown field %s" % (_where(error), ", ".join(unknown)))
        if error.validator == "oneOf":  # the prescription's two forms
            raise ScenarioError("%s: give steps (a daily schedule) or week (one per weekday), not both"
                                % _where(error))
        if error.validator == "maxItems":  # the message would quote every item
            raise ScenarioError("%s: %d items, at most %d" % (_where(error), len(error.instance), error.validator_value))
        raise ScenarioError("%s: %s" % (_where(error), shorten_numbers(error.message)))


def _depth(value):
    """How deeply lists and objects nest in value (0 for a plain value), without recursion."""
    deepest, level = 0, [(value, 0)]
    while level:
        item, depth = level.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth + 1)
            if depth + 1 > MAX_NESTING:
                return deepest
            level.extend((inner, depth + 1) for inner in (item.values() if isinstance(item, dict) else item))
    return deepest


def _units(convert, value, field):
    try:
        return convert(value, field)
    except UnitError as exc:
        raise ScenarioError(str(exc))


def _start(text):
    try:
        start = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ScenarioError("start: expected an ISO date and time like 2026-03-02T08:00:00, got %r" % text)
    if start.tzinfo is not None or not EPOCH <= start < CLOCK_END:
        raise ScenarioError("start: local time in 2000-2099 (the pump clock's range) without a zone, got %r" % text)
    since = start - EPOCH
    return since.days, since.seconds * 1000 + since.microseconds // 1000


def _event(event, i):
    field = "events.%d" % i
    out = {"at_ms": int(round(event["at_h"] * 3_600_000)), "do": event["do"]}
    do = event["do"]
    if do == "power_cut":
        out["off_ms"] = int(round(event["off_s"] * 1000))
    elif do == "sensor_fault":
        out["fault"] = event["fault"]
    elif do == "refill":
        out["add_nl"] = _units(ml_to_nl, event["add_ml"], field + ".add_ml")
        conc_field = field + ".concentration_mcg_per_ml"
        out["concentration_ng_per_ul"] = _whole(event["concentration_mcg_per_ml"], conc_field)
        _check_concentration(out["concentration_ng_per_ul"], event.get("dilution", False), conc_field)
        args = {"add_ml": event["add_ml"], "confirm": True,
                "concentration_mcg_per_ml": event["concentration_mcg_per_ml"]}
        if event.get("dilution"):
            args["dilution"] = True
        out["command"] = {"cmd": "refill", "args": args}
    elif do == "command":
        if _depth(event["command"]) > MAX_NESTING:
            raise ScenarioError("%s.command: nested deeper than %d levels" % (field, MAX_NESTING))
        out["command"] = event["command"]
    elif do == "supply":
        out["mv"] = int(event["mv"])
    elif do == "temperature":
        out["mc"] = int(round(event["c"] * 1000))
    return out


def _steps(steps, where):
    return [[_units(hhmm_to_ms, step["start"], "%s.%d.start" % (where, i)),
             _units(mcg_to_ng, step["mcg_per_h"], "%s.%d.mcg_per_h" % (where, i))] for i, step in enumerate(steps)]


def _whole(value, field):
    if value != int(value):
        raise ScenarioError("%s: whole mcg/mL only, got %r" % (field, value))
    return int(value)


def normalise(raw):
    """The scenario in the runner's integers; ScenarioError when it is bad."""
    check_structure(raw)
    day, ms = _start(raw["start"])
    reservoir, patient = raw["reservoir"], raw["patient"]
    settings = raw.get("settings", {})
    if "week" in raw["prescription"]:
        program = {"week": [_steps(raw["prescription"]["week"][day], "prescription.week." + day)
                            for day in WEEKDAY_NAMES]}
    else:
        program = _steps(raw["prescription"]["steps"], "prescription.steps")
    board = raw.get("board", {})
    scenario = {
        "start_day": day, "start_ms": ms,
        "duration_ms": int(round(raw["duration_h"] * 3_600_000)),
        "seed": raw.get("seed", 1),
        "patient": {"origin": patient["origin"], "age_years": int(patient["age_years"]),
                    "days_since_implant": int(patient["days_since_implant"])},
        "fill_nl": _units(ml_to_nl, reservoir["fill_ml"], "reservoir.fill_ml"),
        "concentration_ng_per_ul": _whole(reservoir["concentration_mcg_per_ml"], "reservoir.concentration_mcg_per_ml"),
        "dilution": reservoir.get("dilution", False),
        "prescription": program,  # as Prescription.to_record() writes it
        "setup": _setup_commands(raw),
        "calibration": {"capacity_nl": _units(ml_to_nl, reservoir.get("capacity_ml", 20), "reservoir.capacity_ml")},
        "events": [_event(e, i) for i, e in enumerate(raw.get("events", []))],
    }
    _check_calibration("capacity_nl", scenario["calibration"]["capacity_nl"], "reservoir.capacity_ml")
    if "steps_per_ml" in board:
        scenario["calibration"]["steps_per_ml"] = _check_calibration("steps_per_ml", board["steps_per_ml"],
                                                                     "board.steps_per_ml")
    if "true_steps_per_ml" in board:
        # the mechanism itself: within the range a board would accept as its calibration
        scenario["true_steps_per_ml"] = _check_calibration("steps_per_ml", board["true_steps_per_ml"],
                                                           "board.true_steps_per_ml")
    end = EPOCH + datetime.timedelta(days=day, milliseconds=ms + scenario["duration_ms"])
    if end >= CLOCK_END:
        raise ScenarioError("duration_h: the run would go past 2099-12-31, the end of the pump clock's range")
    if scenario["fill_nl"] > scenario["calibration"]["capacity_nl"]:
        raise ScenarioError("reservoir.fill_ml: more than capacity_ml")
    _units(ml_to_nl, settings.get("low_reservoir_ml", 2), "settings.low_reservoir_ml")
    _check_concentration(scenario["concentration_ng_per_ul"], scenario["dilution"], "reservoir.concentration_mcg_per_ml")
    low_days = settings.get("low_reservoir_days", 7)
    if druglib.check_low_reservoir_warning(low_days * 86_400):
        least = druglib.BACLOFEN_INTRATHECAL["abrupt_stop"]["low_reservoir_warning_min_s"] // 86_400
        raise ScenarioError("settings.low_reservoir_days: at least %d days, to leave time for a refill visit" % least)
    for i, event in enumerate(scenario["events"]):
        if event["at_ms"] > scenario["duration_ms"]:
            raise ScenarioError("events.%d.at_h: after the end of the run (duration_h)" % i)
    if "catheter" in raw:
        cath = raw["catheter"]
        scenario["catheter"] = {"cm": int(cath["length_cm"]), "primed": cath.get("primed", True),
                                "nl_per_cm": _units(ml_to_nl, cath["ml_per_cm"], "catheter.ml_per_cm")}
    _check_with_druglib(scenario, raw["prescription"].get("override"))
    return scenario


def _check_calibration(key, value, field):
    """value, if the board would accept it as its calibration `key`
    (hw.calibration: the same check as the board's calibration file)."""
    try:
        return parse_calibration(json.dumps({key: value}), DEFAULT_CALIBRATION, CALIBRATION_LIMITS)[key]
    except ValueError as exc:
        raise ScenarioError("%s: %s" % (field, exc))


def _check_concentration(concentration, dilution, field):
    refused = [v for v in druglib.check_concentration(concentration, dilution) if v.hard]
    if refused:
        raise ScenarioError("%s: %s" % (field, refused[0].message))


def _setup_commands(raw):
    """How the clinician programs the new pump at the start of the run: the
    same protocol commands pumpctl sends, in the wire's units."""
    reservoir = raw["reservoir"]
    prescription = {form: raw["prescription"][form] for form in ("steps", "week") if form in raw["prescription"]}
    if "override" in raw["prescription"]:
        prescription["override"] = raw["prescription"]["override"]
    refill = {"add_ml": reservoir["fill_ml"], "concentration_mcg_per_ml": reservoir["concentration_mcg_per_ml"],
              "confirm": True}
    if reservoir.get("dilution"):
        refill["dilution"] = prescription["dilution"] = True
    settings = {"low_reservoir_ml": 2.0, "low_reservoir_days": 7}
    settings.update(raw.get("settings", {}))
    if "catheter" in raw:
        settings["catheter_cm"] = raw["catheter"]["length_cm"]
        settings["catheter_ml_per_cm"] = raw["catheter"]["ml_per_cm"]
    return [{"cmd": "patient", "args": raw["patient"]},
            {"cmd": "refill", "args": refill},
            {"cmd": "settings", "args": settings},
            {"cmd": "set_prescription", "args": prescription}]


def _check_with_druglib(scenario, override):
    """The drug library's verdict before the run, so a refused schedule is
    named as a field here rather than discovered by the pump at t=0."""
    steps_per_ml = scenario["calibration"].get("steps_per_ml", 12_732)
    prescription = Prescription.from_record(scenario["prescription"])
    found = druglib.check_prescription(prescription, scenario["patient"], scenario["concentration_ng_per_ul"],
                                       steps_per_ml, scenario["dilution"])
    decision = druglib.decide(found, override)
    if not decision["accepted"]:
        worst = [v for v in decision["violations"] if v["severity"] == druglib.HARD] or decision["violations"]
        hint = "" if worst[0]["severity"] == druglib.HARD else " (soft limit: add prescription.override with a reason)"
        raise ScenarioError("prescription: %s: %s%s" % (worst[0]["rule"], worst[0]["message"], hint))
