"""The command channel: parse, authenticate and validate one line, then dispatch.

Wire format (USB serial, one line per message, UTF-8, at most MAX_LINE_BYTES
before the newline, the longest line the command table allows; a trailing CR
is ignored):

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

Arguments are checked against the COMMANDS table (pump.schema), and converted to the
pump's integer units (pump.units), so the handler behind the protocol trusts
what it gets. The limits in the table are what the pump can represent and the
mechanism can do, not clinical limits: those belong to the drug library.
"""
import binascii
import json

from pump.compat import const
from pump.hmac256 import DIGEST_BYTES, HmacSha256, digests_equal
from pump.schema import AUTH_COMMAND, COMMANDS, CommandError, convert_fields, is_int, max_body_bytes, safe_word

PROTOCOL_VERSION = const(1)
MAC_HEX_CHARS = const(64)
MAX_COUNTER = const(0x3FFFFFFF)  # a small int on the RP2040; a billion commands
# The longest line the command table allows: MAC, space, the longest body,
# a CR. Computed, so a longer argument in the table raises the limit with it.
MAX_LINE_BYTES = MAC_HEX_CHARS + 1 + max(max_body_bytes(name, MAX_COUNTER) for name in COMMANDS) + 1
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
AUTH_REQUIRED = "auth_required"
NOT_PROVISIONED = "not_provisioned"
BAD_MAC = "bad_mac"
LOCKED = "locked"
REPLAY = "replay"
BENCH_DISABLED = "bench_disabled"
STORAGE = "storage"
INTERNAL = "internal"


def frame(mac_key, body):
    """The authenticated line (without its newline) that carries `body`
    (bytes): the MAC's 64 hex digits, a space, the body exactly as given.
    `mac_key` is the device key as an HmacSha256. The one place a line is
    signed: the host's tools, the simulator and the tests all call it, so
    they cannot drift from what Protocol checks."""
    return binascii.hexlify(mac_key.digest(body)) + b" " + body


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
        """Reply (bytes ending in a newline) to `line` (bytes, newline
        removed), whole: for the host's tools and tests."""
        parts = []
        self.reply_to(parts.append, line, now_s, truncated)
        return b"".join(parts)

    def reply_to(self, write, line, now_s, truncated=False):
        """Answer `line` by handing the reply line to `write` (bytes) in
        pieces: a Rows value (the event log) goes out row by row, so a long
        reply never sits whole in RAM (firmware/main.py writes to the USB
        port). `truncated` is the serial reader's flag for a line it had to
        cut."""
        try:
            reply = self._handle(line, now_s, truncated)
        except CommandError as exc:
            reply = {"ok": False, "error": str(exc.code), "message": str(exc.message)}
        except Exception as exc:  # a defect behind the boundary must not stop delivery
            self._fault(now_s, exc)
            write(_INTERNAL_REPLY)
            return
        try:
            _write_json(write, reply)
        except Exception as exc:  # rows that fail half-way: end the line, the host sees it broken
            self._fault(now_s, exc)
            write(b"\n")

    def _fault(self, now_s, exc):
        try:
            self._event("protocol_fault", now_s, {"error": type(exc).__name__})
        except Exception:  # the event log failing too changes nothing for the reply
            pass

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
        if not is_int(ctr) or not 1 <= ctr <= MAX_COUNTER:
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
            raise CommandError(UNKNOWN_COMMAND, "unknown command %s" % safe_word(name))
        mac_needed, fields, check = entry
        if mac_needed and ctr is None:
            raise CommandError(AUTH_REQUIRED, "%s changes the pump: it needs a MAC and a counter" % name)
        if name == "bench" and not self._bench_enabled:
            self._event("bench_refused", now_s, {})
            raise CommandError(BENCH_DISABLED, "bench fault injection needs the bench-enable jumper at boot")
        args = convert_fields(fields, message.get("args", {}), name)
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


class Rows:
    """A reply value written as a JSON list one row at a time (see
    Protocol.reply_to): `rows` is an iterable of JSON-able rows, made as
    they are written."""

    def __init__(self, rows):
        self.rows = rows


def _write_json(write, reply):
    """The reply object as one JSON line, a key (or a row) at a time."""
    sep = b"{"
    for key, value in reply.items():
        write(sep + json.dumps(key).encode() + b": ")
        sep = b", "
        if isinstance(value, Rows):
            row_sep = b"["
            for row in value.rows:
                write(row_sep + json.dumps(row).encode())
                row_sep = b", "
            write(b"[]" if row_sep == b"[" else b"]")
        else:
            write(json.dumps(value).encode())
    write(b"{}\n" if sep == b"{" else b"}\n")


def _encode(reply):
    return (json.dumps(reply) + "\n").encode()


_INTERNAL_REPLY = _encode({"ok": False, "error": INTERNAL, "message": "command failed inside the pump; see the event log"})


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
            raise CommandError(BAD_REQUEST, "unexpected field %s (fields: cmd, args, ctr)" % safe_word(key))
    if not isinstance(message.get("cmd"), str):
        raise CommandError(BAD_REQUEST, "cmd: expected a command name")
    return message
