"""The command channel: parse, authenticate and validate one line, then dispatch.

Wire format (USB serial, one line per message, UTF-8, at most MAX_LINE_BYTES
before the newline; a trailing CR is ignored):

    read-only:      BODY
    authenticated:  MAC SP BODY
    BODY = {"cmd": NAME, "args": {...}, "ctr": N}     (a JSON object)
    MAC  = 64 hex digits of HMAC-SHA256(device key, the BODY bytes exactly as sent)
    reply: {"ok": true, ...} or {"ok": false, "error": CODE, "message": TEXT}

"args" may be left out when a command takes none. "ctr" is needed only on an
authenticated line: a whole number above the last counter this pump accepted
(kept in flash by the counter store), so a recorded line cannot be replayed
and reordered lines are refused. The MAC covers the body bytes, not a parsed
and re-serialised object, because CPython's and MicroPython's JSON encoders do
not write the same bytes. Every state-changing command must be authenticated;
a read-only one may be, and then consumes a counter like any other.

Order of checks on an authenticated line: lockout, MAC (constant-time), JSON,
counter, command, bench jumper, arguments; only then is the counter stored
(before the handler runs, so a crash mid-command cannot reopen a replay) and
the handler called. A refused line changes nothing, except that a bad MAC
counts towards the lockout: MAX_FAILURES bad MACs in a row lock programming
for LOCKOUT_S; read-only commands keep working meanwhile. Replays are logged
but not counted: they guess nothing about the key.

Arguments are checked here, against the COMMANDS table, and converted to the
pump's integer units (pump.units), so the handler behind the protocol trusts
what it gets. The limits in the table are what the pump can represent and the
mechanism can do, not clinical limits: those belong to the drug library.
"""
import binascii
import json

from pump.compat import const
from pump.hmac256 import DIGEST_BYTES, HmacSha256, digests_equal
from pump.units import NG_PER_MCG, NL_PER_ML, UnitError, hhmm_to_ms, mcg_to_ng, ml_to_nl, to_int_units

PROTOCOL_VERSION = const(1)
MAX_LINE_BYTES = const(512)
MAC_HEX_CHARS = const(64)
MAX_COUNTER = const(0x3FFFFFFF)  # a small int on the RP2040; a billion commands
MAX_FAILURES = const(5)
LOCKOUT_S = const(600)

# Error codes in replies (handlers add their own through CommandError).
TOO_LONG = "too_long"
BAD_FRAME = "bad_frame"
NOT_UTF8 = "not_utf8"
BAD_JSON = "bad_json"
NOT_OBJECT = "not_object"
BAD_REQUEST = "bad_request"
UNKNOWN_COMMAND = "unknown_command"
BAD_ARGS = "bad_args"
AUTH_REQUIRED = "auth_required"
NOT_PROVISIONED = "not_provisioned"
BAD_MAC = "bad_mac"
LOCKED = "locked"
REPLAY = "replay"
BENCH_DISABLED = "bench_disabled"
STORAGE = "storage"
INTERNAL = "internal"

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
    if (args["fault"] == "pressure") != (args["mpsi"] is not None):
        raise CommandError(BAD_ARGS, "mpsi is required with fault pressure, and only with it")


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
    "log": (False, {"n": (WHOLE, "n", 10, (1, 50))}, None),
    "version": (False, {}, None),
    "patient": (True, {
        "origin": (CHOICE, "origin", REQUIRED, ("spinal", "cerebral")),
        "age_years": (WHOLE, "age_years", REQUIRED, (0, 120)),
        "days_since_implant": (WHOLE, "days_since_implant", REQUIRED, (0, 36500)),
    }, None),
    "set_prescription": (True, {
        # a flex day needs a few steps; ten is plenty and still fits in a line
        "steps": (STEPS, "steps", REQUIRED, (1, 10)),
        "kind": (CHOICE, "kind", None, ("titration", "refill", "taper", "restart")),  # titration.KINDS
        "dilution": (FLAG, "dilution", False, None),
        "override": (TEXT, "override", None, (1, 120)),
    }, None),
    "refill": (True, {
        "add_ml": (ML, "add_nl", REQUIRED, (1, 50 * NL_PER_ML)),
        "concentration_mcg_per_ml": (MCG, "concentration_ng_per_ml", REQUIRED, (1, 2000 * NG_PER_MCG)),
        "dilution": (FLAG, "dilution", False, None),
        "confirm": (FLAG, "confirm", False, None),
    }, None),
    "bolus": (True, {
        "mcg": (MCG, "ng", REQUIRED, (1, 1000 * NG_PER_MCG)),
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
        "fault": (CHOICE, "fault", REQUIRED, ("pressure", "stall", "empty", "clear")),
        "mpsi": (WHOLE, "mpsi", None, (0, 30000)),  # the transducer's 0-30 psi
    }, _check_bench),
    "selftest": (True, {}, None),
}


def needs_mac(name):
    """True for a state-changing command (host tools ask before framing a line)."""
    return COMMANDS[name][0]


class CommandError(Exception):
    """A refusal with a short machine-readable code and a message for people."""

    def __init__(self, code, message):
        super().__init__(code, message)
        self.code = code
        self.message = message


class Protocol:
    """Turns one received line into one reply line; never raises, never blocks.

    handler.execute(name, args, now_s) gets a validated command with every
    field of its table present, in integer units, and returns a JSON-able dict
    or raises CommandError. counter_store has get() and set(n) (a flash
    record). on_event(kind, now_s, detail_dict) receives what the event log
    must keep: bad_mac, programming_locked, replay, bench_refused, bench_fault,
    counter_store_failed, protocol_fault. key is the 32-byte device key, or
    None on an unprovisioned board (then only read-only commands work).
    """

    def __init__(self, handler, key, counter_store, bench_enabled=False, on_event=None,
                 max_failures=MAX_FAILURES, lockout_s=LOCKOUT_S):
        if key is not None and len(key) != DIGEST_BYTES:
            raise ValueError("device key must be %d bytes" % DIGEST_BYTES)
        self._handler = handler
        self._mac_key = HmacSha256(key) if key is not None else None
        self._counter = counter_store
        self._bench_enabled = bool(bench_enabled)
        self._on_event = on_event
        self._max_failures = max_failures
        self._lockout_s = lockout_s
        self._failures = 0
        self._locked_until_s = None

    def handle_line(self, line, now_s, truncated=False):
        """Reply (bytes ending in a newline) to `line` (bytes, newline removed).

        `truncated` is the serial reader's flag for a line it had to cut.
        """
        try:
            return _encode(self._handle(line, now_s, truncated))
        except CommandError as exc:
            return _encode({"ok": False, "error": str(exc.code), "message": str(exc.message)})
        except Exception as exc:  # a defect behind the boundary must not stop delivery
            try:
                self._event("protocol_fault", now_s, {"error": type(exc).__name__})
            except Exception:  # the event log failing too changes nothing for the reply
                pass
            return _INTERNAL_REPLY

    def _handle(self, line, now_s, truncated):
        if truncated or len(line) > MAX_LINE_BYTES:
            raise CommandError(TOO_LONG, "line longer than %d bytes" % MAX_LINE_BYTES)
        if line[-1:] == b"\r":
            line = line[:-1]
        if line[:1] == b"{":
            return self._run(_parse_body(line), None, now_s)
        if len(line) <= MAC_HEX_CHARS or line[MAC_HEX_CHARS] != 0x20:
            raise CommandError(BAD_FRAME, "expected a JSON object, or a 64-hex-digit MAC, a space and a JSON object")
        try:
            mac = binascii.unhexlify(line[:MAC_HEX_CHARS])
        except ValueError:
            raise CommandError(BAD_FRAME, "MAC is not 64 hex digits")
        body = line[MAC_HEX_CHARS + 1:]
        self._check_mac(mac, body, now_s)
        message = _parse_body(body)
        return self._run(message, self._fresh_counter(message, now_s), now_s)

    def _check_mac(self, mac, body, now_s):
        if self._mac_key is None:
            raise CommandError(NOT_PROVISIONED, "no device key provisioned: programming is disabled")
        remaining_s = self._lock_remaining_s(now_s)
        if remaining_s:
            raise CommandError(LOCKED, "programming locked for %d s after repeated bad MACs" % remaining_s)
        if digests_equal(self._mac_key.digest(body), mac):
            self._failures = 0
            return
        self._failures += 1
        self._event(BAD_MAC, now_s, {"failures": self._failures})
        if self._failures < self._max_failures:
            raise CommandError(BAD_MAC, "MAC does not match (%d of %d before lockout)"
                               % (self._failures, self._max_failures))
        self._locked_until_s = now_s + self._lockout_s
        self._event("programming_locked", now_s, {"until_s": self._locked_until_s})
        raise CommandError(BAD_MAC, "MAC does not match; programming locked for %d s" % self._lockout_s)

    def _lock_remaining_s(self, now_s):
        until_s = self._locked_until_s
        if until_s is None:
            return 0
        if now_s >= until_s:
            self._locked_until_s = None
            self._failures = 0
            return 0
        if until_s - now_s > self._lockout_s:  # the clock was set back: a full period, no more
            until_s = self._locked_until_s = now_s + self._lockout_s
        return until_s - now_s

    def _fresh_counter(self, message, now_s):
        ctr = message.get("ctr")
        if not _is_int(ctr) or not 1 <= ctr <= MAX_COUNTER:
            raise CommandError(BAD_REQUEST, "ctr: expected a whole number 1..%d" % MAX_COUNTER)
        last = self._counter.get()
        if ctr <= last:
            self._event(REPLAY, now_s, {"ctr": ctr, "last": last})
            raise CommandError(REPLAY, "ctr %d is not above the last accepted %d: replayed or out of order"
                               % (ctr, last))
        return ctr

    def _run(self, message, ctr, now_s):
        name = message["cmd"]
        entry = COMMANDS.get(name)
        if entry is None:
            raise CommandError(UNKNOWN_COMMAND, "unknown command %s" % _word(name))
        mac_needed, fields, check = entry
        if mac_needed and ctr is None:
            raise CommandError(AUTH_REQUIRED, "%s changes the pump: it needs a MAC and a counter" % name)
        if name == "bench" and not self._bench_enabled:
            self._event("bench_refused", now_s, {})
            raise CommandError(BENCH_DISABLED, "bench fault injection needs the bench-enable jumper at boot")
        args = _convert_fields(fields, message.get("args", {}), name)
        if check is not None:
            check(args)
        if ctr is not None:
            self._store_counter(ctr, now_s)
        if name == AUTH_COMMAND:
            reply = self._auth_status(now_s)
        else:
            if name == "bench":
                self._event("bench_fault", now_s, dict(args))
            reply = self._handler.execute(name, args, now_s)
        answer = {}
        if reply:
            answer.update(reply)
        answer["ok"] = True
        if ctr is not None:
            answer["ctr"] = ctr
        return answer

    def _store_counter(self, ctr, now_s):
        try:
            self._counter.set(ctr)
        except OSError as exc:
            self._event("counter_store_failed", now_s, {"errno": exc.args[0] if exc.args else 0})
            raise CommandError(STORAGE, "could not store the command counter; command not run")

    def _auth_status(self, now_s):
        return {"ctr": self._counter.get(), "locked_s": self._lock_remaining_s(now_s),
                "failures": self._failures, "bench": self._bench_enabled,
                "provisioned": self._mac_key is not None, "protocol": PROTOCOL_VERSION}

    def _event(self, kind, now_s, detail):
        if self._on_event is not None:
            self._on_event(kind, now_s, detail)


def _encode(reply):
    return (json.dumps(reply) + "\n").encode()


_INTERNAL_REPLY = _encode({"ok": False, "error": INTERNAL, "message": "command failed inside the pump; see the event log"})


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _word(text):
    """`text` if it is a short lowercase word, so replies never echo control
    characters or long input back to a terminal."""
    if isinstance(text, str) and 0 < len(text) <= 32:
        for ch in text:
            if ch not in "abcdefghijklmnopqrstuvwxyz0123456789_":
                return "(not a command name)"
        return text
    return "(not a command name)"


def _parse_body(body):
    try:
        text = str(body, "utf-8")
    except UnicodeError:
        raise CommandError(NOT_UTF8, "line is not UTF-8")
    try:
        message = json.loads(text)
    except ValueError:
        raise CommandError(BAD_JSON, "body is not valid JSON")
    if not isinstance(message, dict):
        raise CommandError(NOT_OBJECT, "body must be a JSON object")
    for key in message:
        if key not in ("cmd", "args", "ctr"):
            raise CommandError(BAD_REQUEST, "unexpected field %s (fields: cmd, args, ctr)" % _word(key))
    if not isinstance(message.get("cmd"), str):
        raise CommandError(BAD_REQUEST, "cmd: expected a command name")
    return message


def _convert_fields(fields, given, where):
    """Every field of `fields` from the object `given`, converted; unknown names refused."""
    if not isinstance(given, dict):
        raise CommandError(BAD_ARGS, "%s: arguments must be a JSON object" % where)
    for name in given:
        if name not in fields:
            raise CommandError(BAD_ARGS, "%s: unexpected argument %s" % (where, _word(name)))
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
        step = _convert_fields(STEP_FIELDS, item, "step")
        if step["start_ms"] in starts:
            raise CommandError(BAD_ARGS, "%s: two steps start at the same time" % name)
        starts.add(step["start_ms"])
        steps.append((step["start_ms"], step["ng_per_h"]))
    return tuple(sorted(steps))


_DAYS_BEFORE_MONTH = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365)
_ISO_SHAPE = "dddd-dd-ddTdd:dd:dd"


def iso_to_clock_s(text, what="iso"):
    """'2026-03-02T08:00:00' (local time) -> s since 2000-01-01T00:00:00, the RTC epoch.

    Years 2000-2099 only: the DS3231 keeps no century, and within them every
    fourth year is a leap year.
    """
    if not isinstance(text, str) or len(text) != len(_ISO_SHAPE):
        raise UnitError("%s: expected YYYY-MM-DDTHH:MM:SS" % what)
    for shape, ch in zip(_ISO_SHAPE, text):
        if (ch not in "0123456789") if shape == "d" else (ch != shape):
            raise UnitError("%s: expected YYYY-MM-DDTHH:MM:SS" % what)
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if not (2000 <= year <= 2099 and 1 <= month <= 12 and hour <= 23 and minute <= 59 and second <= 59):
        raise UnitError("%s: not a date and time in 2000-2099" % what)
    leap_day = 1 if year % 4 == 0 and month > 2 else 0
    month_days = _DAYS_BEFORE_MONTH[month] - _DAYS_BEFORE_MONTH[month - 1] + (1 if year % 4 == 0 and month == 2 else 0)
    if not 1 <= day <= month_days:
        raise UnitError("%s: no such day" % what)
    days = (year - 2000) * 365 + (year - 1997) // 4 + _DAYS_BEFORE_MONTH[month - 1] + leap_day + day - 1
    return ((days * 24 + hour) * 60 + minute) * 60 + second
