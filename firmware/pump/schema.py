"""The command table: what each protocol command takes, checked at the boundary.

One table (COMMANDS) names every command, whether it needs a MAC, and each
argument's kind, its name for the handler, its default and its limits; one
function (convert_fields) checks a command's arguments against it and turns
them into the pump's integer units (pump.units). So the controller behind
the protocol trusts what it gets, and a reader sees every argument in one
place. The limits are what the pump can represent and the mechanism can do,
not clinical limits: those belong to the drug library.
"""
from pump.benchfaults import BENCH_FAULTS, BENCH_VALUE_UNITS
from pump.prescription import MAX_STEPS_PER_DAY
from pump.units import (NG_PER_MCG, NL_PER_ML, WEEKDAY_NAMES, hhmm_to_ms, iso_to_clock_s, mcg_to_ng, ml_to_nl,
                        to_int_units)

BAD_ARGS = "bad_args"
AUTH_COMMAND = "auth"  # answered by the protocol itself: counter, lockout, bench jumper

# Argument kinds: how a value on the wire becomes a value the pump keeps.
MCG = "mcg"        # a number of mcg -> whole ng (also mcg/h -> ng/h, mcg/mL -> ng/mL)
ML = "ml"          # a number of mL -> whole nL
WHOLE = "whole"    # a whole number in the unit its name carries
HHMM = "hhmm"      # "HH:MM" -> ms since midnight
CLOCK = "clock"    # "YYYY-MM-DDTHH:MM:SS" -> s since 2000-01-01 (RTC epoch)
TEXT = "text"      # a reason for the event log: printable, limits are lengths
FLAG = "flag"      # true or false
CHOICE = "choice"  # one of the words in limits
STEPS = "steps"    # a list of STEP_FIELDS objects -> sorted ((start_ms, ng_per_h), ...)
WEEK = "week"      # {"mon": STEPS, ..., "sun": STEPS}, every day given -> seven STEPS, Monday first

REQUIRED = "required"  # default for an argument that must be given
_SCALE = {MCG: NG_PER_MCG, ML: NL_PER_ML, WHOLE: 1}

# One field: wire name -> (kind, name the handler gets, default, limits).
# Numeric limits are inclusive and in the pump's units; a default of None
# means "not given", which the handler reads as "leave as is".
STEP_FIELDS = {
    "start": (HHMM, "start_ms", REQUIRED, None),
    # 1 mL/h (the monograph's ceiling) of the strongest standard concentration
    "mcg_per_h": (MCG, "ng_per_h", REQUIRED, (0, 2000 * NG_PER_MCG)),
}


def _check_bench(args):
    for fault, name in BENCH_VALUE_UNITS.items():
        if (args["fault"] == fault) != (args[name] is not None):
            raise CommandError(BAD_ARGS, "%s is required with fault %s, and only with it" % (name, fault))


def _check_patient(args):
    if args["new_patient"] and args["reason"] is None:
        raise CommandError(BAD_ARGS, "new_patient resets the titration and bolus history: give the reason")
    if args["reason"] is not None and not args["new_patient"]:
        raise CommandError(BAD_ARGS, "reason goes with new_patient")


def _check_program(args):
    if (args["steps"] is None) == (args["week"] is None):
        raise CommandError(BAD_ARGS, "give steps (a daily schedule) or week (one per weekday), not both")


def _check_plan(args):
    if args["effects"] is not None and args["week_effects"] is not None:
        raise CommandError(BAD_ARGS, "give effects (a day) or week_effects (a week), not both")


def _check_settings(args):
    if args["low_reservoir_nl"] is None and args["low_reservoir_days"] is None:
        raise CommandError(BAD_ARGS, "give low_reservoir_ml, low_reservoir_days or both")


# name -> (needs a MAC, fields, check across fields or None)
COMMANDS = {
    AUTH_COMMAND: (False, {}, None),
    "status": (False, {}, None),
    "prescription": (False, {}, None),
    "reservoir": (False, {}, None),
    "alarms": (False, {}, None),
    # `before`: only entries older than this seq (paging through the whole log)
    "log": (False, {"n": (WHOLE, "n", 10, (1, 50)), "before": (WHOLE, "before", None, (1, 0x3FFFFFFF))}, None),
    "version": (False, {}, None),
    "card": (False, {}, None),  # the refill-visit card (pump.card)
    # clinician's planning aids (pump.clinical): they propose, they change nothing
    "plan": (False, {
        "what": (CHOICE, "what", REQUIRED, ("starting_dose", "taper", "flex_preview", "flex_week_preview", "csf_curve")),
        "screening_mcg": (MCG, "screening_ng", None, (1, 100 * NG_PER_MCG)),
        "effect_h": (WHOLE, "effect_h", None, (0, 48)),
        "days": (WHOLE, "days", None, (1, 60)),
        "hours": (WHOLE, "hours", None, (1, 96)),
        "effects": (STEPS, "effects", None, (1, MAX_STEPS_PER_DAY)),
        "week_effects": (WEEK, "week_effects", None, (1, MAX_STEPS_PER_DAY)),
    }, _check_plan),
    "patient": (True, {
        "origin": (CHOICE, "origin", REQUIRED, ("spinal", "cerebral")),
        "age_years": (WHOLE, "age_years", REQUIRED, (0, 120)),
        # left out: not implanted yet (the screening trial)
        "days_since_implant": (WHOLE, "days_since_implant", None, (0, 36500)),
        # the post-implant starting dose from the patient's record (a restart's target)
        "starting_mcg_per_day": (MCG, "starting_ng_per_day", None, (1, 24 * 2000 * NG_PER_MCG)),
        "new_patient": (FLAG, "new_patient", False, None),  # resets the history, with a reason
        "reason": (TEXT, "reason", None, (1, 120)),
        "override": (TEXT, "override", None, (1, 120)),  # the running program, soft for this patient
    }, _check_patient),
    "set_prescription": (True, {
        # a flex day of an implanted pump: up to 13 steps; a week, 13 a day
        "steps": (STEPS, "steps", None, (1, MAX_STEPS_PER_DAY)),
        "week": (WEEK, "week", None, (1, MAX_STEPS_PER_DAY)),
        "kind": (CHOICE, "kind", None, ("titration", "refill", "taper", "restart")),  # titration.KINDS
        "dilution": (FLAG, "dilution", False, None),
        "override": (TEXT, "override", None, (1, 120)),
    }, _check_program),
    "refill": (True, {
        "add_ml": (ML, "add_nl", REQUIRED, (1, 50 * NL_PER_ML)),
        "concentration_mcg_per_ml": (MCG, "concentration_ng_per_ml", REQUIRED, (1, 2000 * NG_PER_MCG)),
        "dilution": (FLAG, "dilution", False, None),
        "confirm": (FLAG, "confirm", False, None),
        "override": (TEXT, "override", None, (1, 120)),
    }, None),
    "bolus": (True, {
        "mcg": (MCG, "ng", REQUIRED, (1, 1000 * NG_PER_MCG)),
        "kind": (CHOICE, "kind", "clinician", ("clinician", "screening", "remainder")),  # titration.BOLUS_KINDS
        # the drug library sets the shortest (a minute); a day is the longest single bolus
        "duration_s": (WHOLE, "duration_s", 60, (1, 86_400)),
        "override": (TEXT, "override", None, (1, 120)),
    }, None),
    "stop": (True, {"reason": (TEXT, "reason", REQUIRED, (1, 120))}, None),
    "resume": (True, {}, None),
    "ack": (True, {}, None),
    "silence": (True, {}, None),
    "settings": (True, {
        "low_reservoir_ml": (ML, "low_reservoir_nl", None, (0, 50 * NL_PER_ML)),
        "low_reservoir_days": (WHOLE, "low_reservoir_days", None, (0, 90)),
    }, _check_settings),
    "set_clock": (True, {"iso": (CLOCK, "clock_s", REQUIRED, None)}, None),
    "bench": (True, {
        "fault": (CHOICE, "fault", REQUIRED, BENCH_FAULTS),
        "mpsi": (WHOLE, "mpsi", None, (0, 30000)),  # the transducer's 0-30 psi
        "mv": (WHOLE, "mv", None, (0, 6000)),       # VSYS: USB is 5 V
        "mc": (WHOLE, "mc", None, (-40000, 85000)),  # the RP2040's rated range
        "min": (WHOLE, "min", None, (1, 14_400)),  # an outage of up to ten days
    }, _check_bench),
    "selftest": (True, {}, None),
}


# The longest JSON text of an argument of each kind, for the line limit
# (pump.protocol.MAX_LINE_BYTES), as json.dumps writes it with its default
# (wider) separators: a number in its shortest form with every decimal its
# unit allows; text with every character escaped as \uXXXX (6 bytes; a
# character outside the BMP is 4 bytes of UTF-8, as pumpctl sends it).
_TEXT_CHAR_BYTES = 6
_FIXED_BYTES = {HHMM: len('"23:59"'), CLOCK: len('"2099-12-31T23:59:59"'), FLAG: len("false")}


def _value_bytes(kind, limits):
    if kind in _FIXED_BYTES:
        return _FIXED_BYTES[kind]
    if kind == TEXT:
        return 2 + limits[1] * _TEXT_CHAR_BYTES
    if kind == CHOICE:
        return 2 + max(len(word) for word in limits)
    if kind == STEPS:
        return 2 + limits[1] * (_object_bytes(STEP_FIELDS) + 2) - 2
    if kind == WEEK:  # {"mon": STEPS, ...}: seven days, every one at its longest
        return 2 + len(WEEKDAY_NAMES) * (len('"mon": ') + _value_bytes(STEPS, limits) + 2) - 2
    low, high = limits
    scale = _SCALE[kind]
    if scale == 1:
        return len(str(max(abs(low), high))) + (1 if low < 0 else 0)
    return len(str((high - 1) // scale)) + 1 + len(str(scale)) - 1


def _object_bytes(fields):
    """The longest JSON object holding every field of `fields`."""
    inner = sum(len(name) + 4 + _value_bytes(kind, limits) + 2 for name, (kind, _key, _default, limits)
                in fields.items())
    return 2 + inner - (2 if fields else 0)


# Fields of a command of which at most one is given (the command's check
# refuses both): the line limit counts only the longer.
EITHER = {"set_prescription": ("steps", "week"), "plan": ("effects", "week_effects")}


def max_body_bytes(name, max_counter):
    """The longest body a command of the table can be: {"cmd", "args", "ctr"}
    with every argument at its longest (the protocol's line limit is
    computed from it, so the table and the limit cannot disagree)."""
    fields = COMMANDS[name][1]
    args_bytes = max(_object_bytes({key: field for key, field in fields.items() if key != left_out})
                     for left_out in EITHER.get(name, (None,)))
    return len('{"cmd": "", "args": , "ctr": }') + len(name) + args_bytes + len(str(max_counter))


def needs_mac(name):
    """True for a state-changing command (host tools ask before framing a line)."""
    return COMMANDS[name][0]


class CommandError(Exception):
    """A refusal with a short machine-readable code and a message for people."""

    def __init__(self, code, message):
        super().__init__(code, message)
        self.code = code
        self.message = message


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def safe_word(text):
    """`text` if it is a short lowercase word, so replies never echo control
    characters or long input back to a terminal."""
    if isinstance(text, str) and 0 < len(text) <= 32:
        for ch in text:
            if ch not in "abcdefghijklmnopqrstuvwxyz0123456789_":
                return "(not a command name)"
        return text
    return "(not a command name)"


def convert_fields(fields, given, where):
    """Every field of `fields` from the object `given`, converted; unknown names refused."""
    if not isinstance(given, dict):
        raise CommandError(BAD_ARGS, "%s: arguments must be a JSON object" % where)
    for name in given:
        if name not in fields:
            raise CommandError(BAD_ARGS, "%s: unexpected argument %s" % (where, safe_word(name)))
    converted = {}
    for name, (kind, key, default, limits) in fields.items():
        if name in given:
            converted[key] = _convert_value(kind, given[name], limits, name)
        elif default == REQUIRED:
            raise CommandError(BAD_ARGS, "%s: missing argument %s" % (where, name))
        else:
            converted[key] = default
    return converted


def _convert_value(kind, value, limits, name):
    try:
        if kind == MCG:
            number = mcg_to_ng(value, name)
        elif kind == ML:
            number = ml_to_nl(value, name)
        elif kind == WHOLE:
            number = to_int_units(value, 1, name)
        elif kind == HHMM:
            return hhmm_to_ms(value, name)
        elif kind == CLOCK:
            return iso_to_clock_s(value, name)
        elif kind == TEXT:
            return _text(value, limits, name)
        elif kind == FLAG:
            if value is True or value is False:
                return value
            raise CommandError(BAD_ARGS, "%s: expected true or false" % name)
        elif kind == CHOICE:
            if isinstance(value, str) and value in limits:
                return value
            raise CommandError(BAD_ARGS, "%s: expected one of %s" % (name, ", ".join(limits)))
        elif kind == WEEK:
            return _week(value, limits, name)
        else:  # STEPS
            return _steps(value, limits, name)
    except (ValueError, OverflowError) as exc:  # UnitError; NaN and infinity from a float
        raise CommandError(BAD_ARGS, str(exc))
    low, high = limits
    if not low <= number <= high:
        scale = _SCALE[kind]
        raise CommandError(BAD_ARGS, "%s: must be %s to %s" % (name, _shown(low, scale), _shown(high, scale)))
    return number


def _shown(number, scale):
    """A limit back in the units people type (display only)."""
    return "%d" % number if scale == 1 else "%g" % (number / scale)


def _text(value, limits, name):
    if not isinstance(value, str) or not limits[0] <= len(value) <= limits[1]:
        raise CommandError(BAD_ARGS, "%s: expected text of %d to %d characters" % (name, limits[0], limits[1]))
    for ch in value:
        code = ord(ch)
        if code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF:
            raise CommandError(BAD_ARGS, "%s: control characters are not allowed" % name)
    return value


def _steps(value, limits, name):
    if not isinstance(value, list) or not limits[0] <= len(value) <= limits[1]:
        raise CommandError(BAD_ARGS, "%s: expected a list of %d to %d steps" % (name, limits[0], limits[1]))
    steps = []
    starts = set()
    for item in value:
        step = convert_fields(STEP_FIELDS, item, "step")
        if step["start_ms"] in starts:
            raise CommandError(BAD_ARGS, "%s: two steps start at the same time" % name)
        starts.add(step["start_ms"])
        steps.append((step["start_ms"], step["ng_per_h"]))
    return tuple(sorted(steps))


def _week(value, limits, name):
    if not isinstance(value, dict) or sorted(value) != sorted(WEEKDAY_NAMES):
        raise CommandError(BAD_ARGS, "%s: expected an object with the days %s" % (name, ", ".join(WEEKDAY_NAMES)))
    return tuple(_steps(value[day], limits, "%s.%s" % (name, day)) for day in WEEKDAY_NAMES)
