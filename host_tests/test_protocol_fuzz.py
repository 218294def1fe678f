"""CPython-only checks of the command channel: hypothesis properties against
random and mutated lines, and agreement with modules the protocol does not import.

Invariants: no line makes handle_line raise; every reply is one JSON object
line; nothing reaches the handler as a state-changing command unless its
line carries a MAC that CPython's own hmac accepts over the exact body bytes
and a counter above the last one stored; the stored counter never goes down;
the handler only ever sees integer units, never a float.
"""
import binascii
import datetime
import hashlib
import hmac
import json

from hypothesis import HealthCheck, given, settings, strategies as st

from pump import schema as P
from pump import titration
from pump.hmac256 import HmacSha256
from pump.protocol import Protocol, frame
from pump.schema import needs_mac
from pump.units import UnitError, iso_to_clock_s
from test_protocol import KEY, NOW_S, OTHER_KEY, MemoryCounter, RecordingHandler

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)
times = st.sampled_from(["00:00", "07:30", "23:59", "24:00", "7:30", "07:3x"])
steps = st.lists(st.fixed_dictionaries({"start": times, "mcg_per_h": st.integers(-1, 2001) | st.floats(0, 30)}),
                 max_size=4)
# Values of the right kind, mostly within range, so that many commands pass validation.
by_kind = {
    P.MCG: st.integers(-1, 2001) | st.floats(-1, 2001) | st.sampled_from([0.5, 0.0001, 1e999]),
    P.ML: st.integers(-1, 51) | st.floats(-1, 51),
    P.WHOLE: st.integers(-1, 30001) | st.sampled_from([2.5, 7.0]),
    P.HHMM: times,
    P.CLOCK: st.sampled_from(["2026-03-02T08:00:00", "2026-02-29T00:00:00", "2100-01-01T00:00:00", "2026-03-02"]),
    P.TEXT: st.text(max_size=130),
    P.FLAG: st.booleans() | st.integers(0, 1),
    P.CHOICE: st.sampled_from(["pressure", "stall", "empty", "clear", "fire"]),
    P.STEPS: steps,
    # a week, now and then a day short or a day misnamed
    P.WEEK: st.dictionaries(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun", "lun"]), steps,
                            min_size=6, max_size=8),
}


@st.composite
def messages(draw):
    name = draw(st.sampled_from(sorted(P.COMMANDS)) | st.text(max_size=10))
    message = {"cmd": name}
    fields = P.COMMANDS[name][1] if name in P.COMMANDS else {}
    if draw(st.integers(0, 9)) == 0:
        message["args"] = draw(json_values)
    else:
        args = {}
        for field, (kind, _key, _default, _limits) in fields.items():
            if draw(st.integers(0, 4)):
                args[field] = draw(by_kind[kind] if draw(st.integers(0, 9)) else json_values)
        if draw(st.integers(0, 9)) == 0:
            args[draw(st.text(max_size=8))] = draw(json_values)
        if args or draw(st.booleans()):
            message["args"] = args
    if draw(st.integers(0, 5)):
        message["ctr"] = draw(st.integers(1, 30) if draw(st.integers(0, 9)) else json_values)
    separators = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    return json.dumps(message, separators=separators).encode()


def sign(body, key=KEY):
    return frame(HmacSha256(key), body)


@st.composite
def mutated(draw, base):
    line = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate"]))
        at = draw(st.integers(0, len(line)))
        if op == "flip" and at < len(line):
            line[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "delete":
            del line[at:at + draw(st.integers(1, 8))]
        elif op == "insert":
            line[at:at] = draw(st.binary(min_size=1, max_size=4) | st.sampled_from(
                [b"\r", b"{", b'"', b"\\", b" ", b"\x03", b"\x01", b"\x04", b"\r\x03\r\x01"]))
        elif op == "truncate":
            del line[at:]
        else:
            line[at:at] = line[at:at + 16]
    return bytes(line)


signed_messages = messages().map(sign)


@st.composite
def forged(draw):
    """A signed line with one hex digit of its MAC changed: catches a compare that stops early."""
    line = bytearray(draw(signed_messages))
    at = draw(st.integers(0, 63))
    line[at] = ord(draw(st.sampled_from("0123456789abcdef").filter(lambda digit: ord(digit) != line[at])))
    return bytes(line)


lines = st.one_of(
    st.binary(max_size=600),
    messages(),
    signed_messages,
    messages().map(lambda body: sign(body, OTHER_KEY)),
    forged(),
    mutated(signed_messages),
    mutated(messages()),
)
# Each line sent 1-6 times in a row: repeats are replays, and repeated bad MACs lock programming.
sequences = st.lists(st.tuples(lines, st.integers(1, 6)), min_size=1, max_size=10).map(
    lambda bursts: [line for line, times in bursts for _ in range(times)])


def authentic(line, last_ctr):
    """The oracle, written apart from the firmware: a CPython hmac check of the exact body bytes."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if len(line) <= 64 or line[64:65] != b" ":
        return False
    try:
        mac = binascii.unhexlify(line[:64])
        message = json.loads(line[65:])
    except ValueError:
        return False
    ctr = message.get("ctr") if isinstance(message, dict) else None
    fresh = isinstance(ctr, int) and not isinstance(ctr, bool) and ctr > last_ctr
    return fresh and hmac.compare_digest(hmac.new(KEY, line[65:], hashlib.sha256).digest(), mac)


def integer_units(value):
    if isinstance(value, tuple):
        return all(integer_units(item) for item in value)
    return value is None or isinstance(value, (bool, int, str))


@FUZZ
@given(sequences, st.booleans())
def test_no_line_raises_or_changes_the_pump_without_a_valid_mac(sequence, bench):
    handler, counter = RecordingHandler(), MemoryCounter()
    protocol = Protocol(handler, KEY, counter, bench_enabled=bench)
    for i, line in enumerate(sequence):
        last_ctr, calls = counter.get(), len(handler.calls)
        raw = protocol.handle_line(line, NOW_S + 120 * i)
        assert raw.endswith(b"\n") and raw.count(b"\n") == 1
        reply = json.loads(raw)
        assert reply["ok"] in (True, False)
        assert reply.get("error") != "internal", reply
        if not reply["ok"]:
            assert isinstance(reply["error"], str) and isinstance(reply["message"], str)
        if counter.get() != last_ctr:
            assert counter.get() > last_ctr and authentic(line, last_ctr), line
        for name, args, _now in handler.calls[calls:]:
            assert not needs_mac(name) or authentic(line, last_ctr), (name, line)
            assert all(integer_units(value) for value in args.values()), args


@FUZZ
@given(messages())
def test_an_accepted_line_is_refused_when_replayed(body):
    handler, counter = RecordingHandler(), MemoryCounter()
    protocol = Protocol(handler, KEY, counter, bench_enabled=True)
    line = sign(body)
    if json.loads(protocol.handle_line(line, NOW_S))["ok"]:
        again = json.loads(protocol.handle_line(line, NOW_S))
        assert again["ok"] is False and again["error"] == "replay"


@FUZZ
@given(st.datetimes(min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2099, 12, 31, 23, 59, 59)))
def test_iso_time_counts_the_seconds_datetime_counts(moment):
    moment = moment.replace(microsecond=0)
    expected = int((moment - datetime.datetime(2000, 1, 1)).total_seconds())
    assert iso_to_clock_s(moment.strftime("%Y-%m-%dT%H:%M:%S")) == expected


@FUZZ
@given(st.integers(2000, 2099), st.integers(0, 13), st.integers(0, 32))
def test_iso_date_is_accepted_exactly_when_it_exists(year, month, day):
    text = "%04d-%02d-%02dT12:00:00" % (year, month, day)
    try:
        datetime.date(year, month, day)
        exists = True
    except ValueError:
        exists = False
    try:
        iso_to_clock_s(text)
        accepted = True
    except UnitError:
        accepted = False
    assert accepted == exists


def test_change_kinds_are_the_titration_kinds():
    # The protocol keeps its own copy of the words so it need not import the titration rules.
    assert P.COMMANDS["set_prescription"][1]["kind"][3] == titration.KINDS
