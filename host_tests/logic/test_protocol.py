"""The command channel as a specification: what a line must be to change the pump.

Shared by CPython and the MicroPython unix port. A refused line must change
nothing: the recording handler is not called and the stored counter stays.
RecordingHandler and MemoryCounter are also the fakes the CPython fuzz test,
the pumpctl tests and bench/protocol_fuzz.py drive the protocol with.
"""
import json

from pump.hmac256 import HmacSha256
from pump.protocol import LOCKOUT_S, MAX_FAILURES, MAX_LINE_BYTES, Protocol, frame
from pump.schema import COMMANDS, CommandError, needs_mac
from pump.units import iso_to_clock_s

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NOW_S = 825753600  # 2026-03-02T08:00:00


class RecordingHandler:
    """Records every command it is given; refuses the names in `refuse` with CommandError."""

    def __init__(self, refuse=()):
        self.calls = []
        self.refuse = refuse

    def execute(self, name, args, now_s):
        self.calls.append((name, args, now_s))
        if name in self.refuse:
            raise CommandError("refused", "%s refused by the fake handler" % name)
        return {"command": name}


class MemoryCounter:
    """The counter store, in RAM: get() and set(n) as the flash record offers them."""

    def __init__(self, value=0):
        self.value = value

    def get(self):
        return self.value

    def set(self, value):
        self.value = value


class FailingCounter(MemoryCounter):
    def set(self, value):
        raise OSError(28)  # ENOSPC: flash full


def body(cmd, args=None, ctr=None):
    message = {"cmd": cmd}
    if args is not None:
        message["args"] = args
    if ctr is not None:
        message["ctr"] = ctr
    return json.dumps(message).encode()


def signed(body_bytes, key=KEY):
    return frame(HmacSha256(key), body_bytes)


def raw_body(cmd, args_json, ctr):
    """A body with the args written as exact JSON text (for values json.dumps cannot write)."""
    return ('{"cmd": "%s", "args": %s, "ctr": %d}' % (cmd, args_json, ctr)).encode()


def make(bench=False, counter=None, key=KEY, handler=None):
    events = []
    handler = handler or RecordingHandler()
    counter = counter or MemoryCounter()
    protocol = Protocol(handler, key, counter, bench_enabled=bench,
                        on_event=lambda kind, now_s, detail: events.append((kind, now_s, detail)))
    return protocol, handler, counter, events


def reply(protocol, line, now_s=NOW_S, truncated=False):
    raw = protocol.handle_line(line, now_s, truncated)
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1, raw
    return json.loads(raw)


def assert_refused(protocol, handler, counter, line, code, now_s=NOW_S, truncated=False):
    calls, stored = len(handler.calls), counter.get()
    answer = reply(protocol, line, now_s, truncated)
    assert answer["ok"] is False and answer["error"] == code, (line, answer)
    assert isinstance(answer["message"], str) and answer["message"]
    assert len(handler.calls) == calls, "handler called for a refused line"
    assert counter.get() == stored, "counter consumed by a refused line"


def kinds(events):
    return [kind for kind, _now, _detail in events]


# --- read-only commands ---------------------------------------------------------

def test_read_only_command_needs_no_mac():
    protocol, handler, counter, _ = make()
    assert reply(protocol, body("status")) == {"ok": True, "command": "status"}
    assert handler.calls == [("status", {}, NOW_S)]
    assert counter.get() == 0


def test_every_read_only_command_reaches_the_handler_without_a_mac():
    required = {"plan": {"what": "starting_dose"}}  # the one read-only command with a required argument
    for name in COMMANDS:
        if needs_mac(name) or name == "auth":
            continue
        protocol, handler, _, _ = make()
        assert reply(protocol, body(name, required.get(name)))["ok"] is True, name
        assert handler.calls[0][0] == name


def test_log_defaults_to_ten_entries():
    protocol, handler, _, _ = make()
    reply(protocol, body("log"))
    assert handler.calls[0][1] == {"n": 10, "before": None}


def test_log_takes_a_count():
    protocol, handler, _, _ = make()
    reply(protocol, body("log", {"n": 3}))
    assert handler.calls[0][1] == {"n": 3, "before": None}


def test_log_pages_back_from_a_seq():
    protocol, handler, _, _ = make()
    reply(protocol, body("log", {"n": 50, "before": 120}))
    assert handler.calls[0][1] == {"n": 50, "before": 120}


def test_trailing_carriage_return_is_ignored():
    protocol, handler, _, _ = make()
    assert reply(protocol, body("status") + b"\r")["ok"] is True
    protocol, handler, _, _ = make()
    assert reply(protocol, signed(body("resume", ctr=1)) + b"\r")["ok"] is True


def test_auth_reports_counter_lockout_and_jumper_without_calling_the_handler():
    protocol, handler, _, _ = make(bench=True, counter=MemoryCounter(41))
    answer = reply(protocol, body("auth"))
    assert answer == {"ok": True, "ctr": 41, "locked_s": 0, "failures": 0, "bench": True,
                      "provisioned": True, "protocol": 1}
    assert handler.calls == []


# --- authentication -------------------------------------------------------------

def test_authenticated_command_reaches_the_handler_and_its_counter_is_stored():
    protocol, handler, counter, _ = make()
    answer = reply(protocol, signed(body("bolus", {"mcg": 50}, ctr=1)))
    assert answer == {"ok": True, "command": "bolus", "ctr": 1}
    assert handler.calls == [("bolus", {"ng": 50000, "kind": "clinician", "duration_s": 60, "override": None,
                                        "then": None, "reason": None}, NOW_S)]
    assert counter.get() == 1


def test_counter_is_stored_before_the_handler_runs():
    counter = MemoryCounter(7)
    seen = []

    class Handler(RecordingHandler):
        def execute(self, name, args, now_s):
            seen.append(counter.get())
            return {}
    protocol, _, _, _ = make(counter=counter, handler=Handler())
    reply(protocol, signed(body("resume", ctr=8)))
    assert seen == [8]


def test_every_state_changing_command_without_a_mac_is_refused():
    for name in COMMANDS:
        if not needs_mac(name):
            continue
        protocol, handler, counter, _ = make(bench=True)
        assert_refused(protocol, handler, counter, body(name, {}, ctr=1), "auth_required")


def test_replayed_line_is_refused():
    protocol, handler, counter, events = make()
    line = signed(body("bolus", {"mcg": 50}, ctr=1))
    assert reply(protocol, line)["ok"] is True
    assert_refused(protocol, handler, counter, line, "replay")
    assert len(handler.calls) == 1
    assert kinds(events) == ["replay"]


def test_counter_equal_to_the_last_accepted_is_refused():
    protocol, handler, counter, _ = make(counter=MemoryCounter(5))
    assert_refused(protocol, handler, counter, signed(body("resume", ctr=5)), "replay")


def test_counter_below_the_last_accepted_is_refused_as_out_of_order():
    protocol, handler, counter, _ = make()
    assert reply(protocol, signed(body("ack", ctr=3)))["ok"] is True
    assert_refused(protocol, handler, counter, signed(body("silence", ctr=2)), "replay")


def test_counter_may_skip_ahead():
    protocol, _, counter, _ = make(counter=MemoryCounter(5))
    assert reply(protocol, signed(body("resume", ctr=90)))["ok"] is True
    assert counter.get() == 90


def test_counter_must_be_a_positive_whole_number():
    for ctr_json in ("0", "-1", "1.5", "true", '"7"', "null", "1073741824"):
        protocol, handler, counter, _ = make()
        line = signed(('{"cmd": "resume", "ctr": %s}' % ctr_json).encode())
        assert_refused(protocol, handler, counter, line, "bad_request")
    protocol, handler, counter, _ = make()
    assert_refused(protocol, handler, counter, signed(body("resume")), "bad_request")


def test_wrong_key_is_refused_as_bad_mac():
    protocol, handler, counter, events = make()
    assert_refused(protocol, handler, counter, signed(body("bolus", {"mcg": 50}, ctr=1), OTHER_KEY), "bad_mac")
    assert kinds(events) == ["bad_mac"]


def test_mac_covers_the_exact_bytes_sent():
    # Re-serialising the body (one more space) must break the MAC.
    protocol, handler, counter, _ = make()
    line = signed(b'{"cmd": "bolus", "args": {"mcg": 50}, "ctr": 1}')
    tampered = line.replace(b'"mcg": 50', b'"mcg":  50')
    assert_refused(protocol, handler, counter, tampered, "bad_mac")
    assert_refused(protocol, handler, counter, line.replace(b"50", b"90"), "bad_mac")


def test_mac_hex_digits_may_be_upper_case():
    protocol, _, _, _ = make()
    line = signed(body("resume", ctr=1))
    assert reply(protocol, line[:64].upper() + line[64:])["ok"] is True


def test_malformed_mac_prefix_is_refused_as_bad_frame():
    good = signed(body("resume", ctr=1))
    for line in (good[1:], b"z" + good[1:], good[:64] + b"\t" + good[65:], b"", b"status", b" " + good):
        protocol, handler, counter, events = make()
        assert_refused(protocol, handler, counter, line, "bad_frame")
        assert events == [], "a malformed frame is not a MAC attempt"


def test_read_only_command_with_a_mac_consumes_its_counter():
    protocol, handler, counter, _ = make()
    assert reply(protocol, signed(body("status", ctr=4))) == {"ok": True, "command": "status", "ctr": 4}
    assert counter.get() == 4


def test_unprovisioned_pump_refuses_programming_but_answers_reads():
    protocol, handler, counter, _ = make(key=None)
    assert_refused(protocol, handler, counter, signed(body("resume", ctr=1)), "not_provisioned")
    assert reply(protocol, body("status"))["ok"] is True
    assert reply(protocol, body("auth"))["provisioned"] is False


def test_device_key_must_be_32_bytes():
    for key in (b"", b"short", bytes(33)):
        try:
            Protocol(RecordingHandler(), key, MemoryCounter())
        except ValueError:
            continue
        assert False, "accepted a %d-byte key" % len(key)


# --- lockout --------------------------------------------------------------------

def lock(protocol, now_s=NOW_S):
    for i in range(MAX_FAILURES):
        reply(protocol, signed(body("resume", ctr=100 + i), OTHER_KEY), now_s)


def test_lockout_after_max_failures_refuses_even_a_valid_mac():
    protocol, handler, counter, events = make()
    lock(protocol)
    assert kinds(events) == ["bad_mac"] * MAX_FAILURES + ["programming_locked"]
    assert events[-1][2] == {"until_s": NOW_S + LOCKOUT_S}
    assert_refused(protocol, handler, counter, signed(body("resume", ctr=1)), "locked", NOW_S + LOCKOUT_S - 1)


def test_lockout_ends_after_the_period():
    protocol, handler, counter, _ = make()
    lock(protocol)
    assert reply(protocol, signed(body("resume", ctr=1)), NOW_S + LOCKOUT_S)["ok"] is True
    assert reply(protocol, body("auth"), NOW_S + LOCKOUT_S)["failures"] == 0


def test_lockout_does_not_count_further_attempts():
    protocol, handler, counter, events = make()
    lock(protocol)
    before = len(events)
    assert_refused(protocol, handler, counter, signed(body("resume", ctr=1), OTHER_KEY), "locked", NOW_S + 10)
    assert len(events) == before


def test_read_only_commands_work_while_locked():
    protocol, _, _, _ = make()
    lock(protocol)
    assert reply(protocol, body("status"), NOW_S + 1)["ok"] is True
    assert reply(protocol, body("auth"), NOW_S + 1)["locked_s"] == LOCKOUT_S - 1


def test_a_valid_mac_resets_the_failure_count():
    protocol, handler, counter, _ = make()
    for i in range(MAX_FAILURES - 1):
        reply(protocol, signed(body("resume", ctr=1), OTHER_KEY))
    assert reply(protocol, signed(body("resume", ctr=1)))["ok"] is True
    for i in range(MAX_FAILURES - 1):
        reply(protocol, signed(body("resume", ctr=2 + i), OTHER_KEY))
    assert reply(protocol, signed(body("resume", ctr=2)))["ok"] is True


def test_replays_do_not_count_towards_lockout():
    protocol, handler, counter, _ = make(counter=MemoryCounter(50))
    for _ in range(MAX_FAILURES + 1):
        assert reply(protocol, signed(body("resume", ctr=1)))["error"] == "replay"
    assert reply(protocol, signed(body("resume", ctr=51)))["ok"] is True


def test_clock_set_back_during_lockout_does_not_extend_it():
    protocol, handler, counter, _ = make()
    lock(protocol)
    earlier_s = NOW_S - 86400
    assert reply(protocol, body("auth"), earlier_s)["locked_s"] == LOCKOUT_S
    assert reply(protocol, signed(body("resume", ctr=1)), earlier_s + LOCKOUT_S)["ok"] is True


# --- malformed lines ------------------------------------------------------------

def test_oversized_line_is_refused():
    protocol, handler, counter, _ = make()
    padding = b" " * (MAX_LINE_BYTES + 1 - len(body("status")))
    assert_refused(protocol, handler, counter, body("status")[:-1] + padding + b"}", "too_long")


def test_line_of_exactly_the_maximum_length_is_accepted():
    protocol, _, _, _ = make()
    line = body("status")[:-1] + b" " * (MAX_LINE_BYTES - len(body("status"))) + b"}"
    assert len(line) == MAX_LINE_BYTES
    assert reply(protocol, line)["ok"] is True


def test_line_the_serial_reader_cut_is_refused():
    protocol, handler, counter, _ = make()
    assert_refused(protocol, handler, counter, signed(body("resume", ctr=1)), "too_long", truncated=True)


def test_truncated_line_is_refused():
    line = signed(body("bolus", {"mcg": 50}, ctr=1))
    for cut in (len(line) - 1, 80, 65):
        protocol, handler, counter, _ = make()
        assert_refused(protocol, handler, counter, line[:cut], "bad_mac")
    protocol, handler, counter, _ = make()
    assert_refused(protocol, handler, counter, body("log", {"n": 5})[:-2], "bad_json")


def test_non_utf8_line_is_refused():
    protocol, handler, counter, _ = make()
    assert_refused(protocol, handler, counter, b'{"cmd": "status\xff\xfe"}', "not_utf8")
    assert_refused(protocol, handler, counter, signed(b'{"cmd": "resume", "ctr": 1, "x": "\xff"}'), "not_utf8")


def test_non_json_line_is_refused():
    for line in (b"{status}", b"{'cmd': 'status'}", b'{"cmd": "status"', b'{"cmd": "status"} {}'):
        protocol, handler, counter, _ = make()
        assert_refused(protocol, handler, counter, line, "bad_json")


def test_json_that_is_not_an_object_is_refused():
    protocol, handler, counter, _ = make()
    assert_refused(protocol, handler, counter, b'["status"]', "bad_frame")
    for text in (b'["resume"]', b'"resume"', b"17", b"null"):
        assert_refused(protocol, handler, counter, signed(text), "not_object")


def test_unknown_command_is_refused():
    protocol, handler, counter, _ = make()
    answer = reply(protocol, body("deliver_everything"))
    assert answer["error"] == "unknown_command" and "deliver_everything" in answer["message"]
    assert_refused(protocol, handler, counter, signed(body("format_flash", ctr=1)), "unknown_command")
    assert handler.calls == []


def test_unknown_command_name_with_control_characters_is_not_echoed():
    protocol, _, _, _ = make()
    answer = reply(protocol, body("x\x1b[2J"))
    assert answer["error"] == "unknown_command" and "\x1b" not in answer["message"]


def test_envelope_fields_are_checked():
    for line in (b'{"cmd": 5}', b'{"args": {}}', b'{"cmd": "status", "mac": "00"}', b'{}'):
        protocol, handler, counter, _ = make()
        assert_refused(protocol, handler, counter, line, "bad_request")


# --- arguments ------------------------------------------------------------------

# command | its args as exact JSON text | what the handler must get (as JSON: tuples are lists).
# Text rather than literals: a table of literals costs the unix port's compiler too much heap.
CONVERSIONS = """
bolus | {"mcg": 50} | {"ng": 50000, "kind": "clinician", "duration_s": 60, "override": null, "then": null, "reason": null}
bolus | {"mcg": 0.5, "kind": "screening", "duration_s": 120, "override": "screening dose 2"} | {"ng": 500, "kind": "screening", "duration_s": 120, "override": "screening dose 2", "then": null, "reason": null}
bolus | {"mcg": 50, "duration_s": 600, "then": "stop", "reason": "then hold"} | {"ng": 50000, "kind": "clinician", "duration_s": 600, "override": null, "then": "stop", "reason": "then hold"}
prime | {"then": "schedule"} | {"then": "schedule", "reason": null}
bridge | {"confirm": true} | {"confirm": true}
refill | {"add_ml": 15, "concentration_mcg_per_ml": 500} | {"add_nl": 15000000, "concentration_ng_per_ml": 500000, "dilution": false, "confirm": false, "override": null}
refill | {"add_ml": 0.1, "concentration_mcg_per_ml": 1250, "dilution": true, "confirm": true} | {"add_nl": 100000, "concentration_ng_per_ml": 1250000, "dilution": true, "confirm": true, "override": null}
set_prescription | {"steps": [{"start": "07:00", "mcg_per_h": 20}, {"start": "00:00", "mcg_per_h": 30.5}]} | {"steps": [[0, 30500], [25200000, 20000]], "week": null, "kind": null, "dilution": false, "override": null}
set_prescription | {"steps": [{"start": "23:59", "mcg_per_h": 0}], "kind": "refill", "override": "900 mcg/day"} | {"steps": [[86340000, 0]], "week": null, "kind": "refill", "dilution": false, "override": "900 mcg/day"}
set_prescription | {"week": {"mon": [{"start": "07:00", "mcg_per_h": 20}, {"start": "00:00", "mcg_per_h": 30}], "tue": [{"start": "00:00", "mcg_per_h": 1}], "wed": [{"start": "00:00", "mcg_per_h": 2}], "thu": [{"start": "00:00", "mcg_per_h": 3}], "fri": [{"start": "00:00", "mcg_per_h": 4}], "sat": [{"start": "00:00", "mcg_per_h": 5}], "sun": [{"start": "22:00", "mcg_per_h": 6.5}]}} | {"steps": null, "week": [[[0, 30000], [25200000, 20000]], [[0, 1000]], [[0, 2000]], [[0, 3000]], [[0, 4000]], [[0, 5000]], [[79200000, 6500]]], "kind": null, "dilution": false, "override": null}
patient | {"origin": "cerebral", "age_years": 9, "days_since_implant": 0} | {"origin": "cerebral", "age_years": 9, "days_since_implant": 0, "starting_ng_per_day": null, "new_patient": false, "reason": null, "override": null}
patient | {"origin": "spinal", "age_years": 40, "starting_mcg_per_day": 100, "new_patient": true, "reason": "pump moved to a new patient"} | {"origin": "spinal", "age_years": 40, "days_since_implant": null, "starting_ng_per_day": 100000, "new_patient": true, "reason": "pump moved to a new patient", "override": null}
stop | {"reason": "overdose suspected"} | {"reason": "overdose suspected"}
settings | {"low_reservoir_ml": 2.0} | {"low_reservoir_nl": 2000000, "low_reservoir_days": null, "catheter_cm": null, "catheter_nl_per_cm": null}
settings | {"low_reservoir_ml": 0, "low_reservoir_days": 7} | {"low_reservoir_nl": 0, "low_reservoir_days": 7, "catheter_cm": null, "catheter_nl_per_cm": null}
settings | {"catheter_cm": 50, "catheter_ml_per_cm": 0.0022} | {"low_reservoir_nl": null, "low_reservoir_days": null, "catheter_cm": 50, "catheter_nl_per_cm": 2200}
set_clock | {"iso": "2026-03-02T08:00:00"} | {"clock_s": 825753600}
bench | {"fault": "pressure", "mpsi": 25000} | {"fault": "pressure", "mpsi": 25000, "mv": null, "mc": null, "min": null}
bench | {"fault": "low_battery", "mv": 3200} | {"fault": "low_battery", "mpsi": null, "mv": 3200, "mc": null, "min": null}
bench | {"fault": "temperature", "mc": -5000} | {"fault": "temperature", "mpsi": null, "mv": null, "mc": -5000, "min": null}
bench | {"fault": "outage", "min": 720} | {"fault": "outage", "mpsi": null, "mv": null, "mc": null, "min": 720}
bench | {"fault": "clear"} | {"fault": "clear", "mpsi": null, "mv": null, "mc": null, "min": null}
resume | {} | {}
"""


def rows(table):
    return [[cell.strip() for cell in row.split(" | ")] for row in table.strip().split("\n")]


def test_arguments_reach_the_handler_in_integer_units():
    for name, args_json, expected_json in rows(CONVERSIONS):
        protocol, handler, _, _ = make(bench=True)
        answer = reply(protocol, signed(raw_body(name, args_json, 1)))
        assert answer["ok"] is True, (name, args_json, answer)
        got = handler.calls[0][1]
        assert json.loads(json.dumps(got)) == json.loads(expected_json), (name, got)
        for value in got.values():
            assert not isinstance(value, float), (name, value)


def test_steps_reach_the_handler_as_sorted_tuples():
    protocol, handler, _, _ = make()
    args_json = '{"steps": [{"start": "07:00", "mcg_per_h": 20}, {"start": "00:00", "mcg_per_h": 30}]}'
    reply(protocol, signed(raw_body("set_prescription", args_json, 1)))
    assert handler.calls[0][1]["steps"] == ((0, 30000), (25200000, 20000))


# command | its args as exact JSON text: each must be refused as bad_args
BAD_ARGS = """
bolus | {"mcg": "50"}
bolus | {"mcg": true}
bolus | {"mcg": -1}
bolus | {"mcg": 0}
bolus | {"mcg": 1001}
bolus | {"mcg": 0.0001}
bolus | {"mcg": 1e999}
bolus | {"mcg": null}
bolus | {"mcg": [50]}
bolus | {}
bolus | {"mcg": 50, "extra": 1}
bolus | [50]
bolus | "50"
refill | {"add_ml": 15}
refill | {"add_ml": 0, "concentration_mcg_per_ml": 500}
refill | {"add_ml": 51, "concentration_mcg_per_ml": 500}
refill | {"add_ml": 15, "concentration_mcg_per_ml": 2001}
refill | {"add_ml": 15, "concentration_mcg_per_ml": 500, "confirm": "yes"}
refill | {"add_ml": 15, "concentration_mcg_per_ml": 500, "confirm": 1}
refill | {"add_ml": 15, "concentration_mcg_per_ml": 500, "dilution": null}
set_prescription | {"steps": []}
set_prescription | {"steps": {"start": "00:00"}}
set_prescription | {"steps": [{"start": "24:00", "mcg_per_h": 20}]}
set_prescription | {"steps": [{"start": "7:30", "mcg_per_h": 20}]}
set_prescription | {"steps": [{"start": "07:30"}]}
set_prescription | {"steps": [{"start": "07:30", "mcg_per_h": 20, "bolus": 5}]}
set_prescription | {"steps": [{"start": "07:30", "mcg_per_h": 2001}]}
set_prescription | {"steps": [{"start": "07:30", "mcg_per_h": -1}]}
set_prescription | {"steps": [{"start": "07:30", "mcg_per_h": 20}, {"start": "07:30", "mcg_per_h": 30}]}
set_prescription | {"steps": ["07:30"]}
set_prescription | {"steps": [{"start": "00:00", "mcg_per_h": 20}], "kind": "holiday"}
set_prescription | {"steps": [{"start": "00:00", "mcg_per_h": 20}], "override": ""}
set_prescription | {"steps": [{"start": "00:00", "mcg_per_h": 20}], "override": "a\\nb"}
set_prescription | {"steps": [{"start": "00:00", "mcg_per_h": 20}], "override": 5}
set_prescription | {}
set_prescription | {"steps": [{"start": "00:00", "mcg_per_h": 20}], "week": {"mon": [{"start": "00:00", "mcg_per_h": 20}], "tue": [{"start": "00:00", "mcg_per_h": 20}], "wed": [{"start": "00:00", "mcg_per_h": 20}], "thu": [{"start": "00:00", "mcg_per_h": 20}], "fri": [{"start": "00:00", "mcg_per_h": 20}], "sat": [{"start": "00:00", "mcg_per_h": 20}], "sun": [{"start": "00:00", "mcg_per_h": 20}]}}
set_prescription | {"week": {"mon": [{"start": "00:00", "mcg_per_h": 20}], "tue": [{"start": "00:00", "mcg_per_h": 20}], "wed": [{"start": "00:00", "mcg_per_h": 20}], "thu": [{"start": "00:00", "mcg_per_h": 20}], "fri": [{"start": "00:00", "mcg_per_h": 20}], "sat": [{"start": "00:00", "mcg_per_h": 20}]}}
set_prescription | {"week": {"mon": [{"start": "00:00", "mcg_per_h": 20}], "tue": [{"start": "00:00", "mcg_per_h": 20}], "wed": [{"start": "00:00", "mcg_per_h": 20}], "thu": [{"start": "00:00", "mcg_per_h": 20}], "fri": [{"start": "00:00", "mcg_per_h": 20}], "sat": [{"start": "00:00", "mcg_per_h": 20}], "sun": [{"start": "00:00", "mcg_per_h": 20}], "lun": []}}
set_prescription | {"week": {"mon": [{"start": "00:00", "mcg_per_h": 20}], "tue": [], "wed": [{"start": "00:00", "mcg_per_h": 20}], "thu": [{"start": "00:00", "mcg_per_h": 20}], "fri": [{"start": "00:00", "mcg_per_h": 20}], "sat": [{"start": "00:00", "mcg_per_h": 20}], "sun": [{"start": "00:00", "mcg_per_h": 20}]}}
set_prescription | {"week": [[{"start": "00:00", "mcg_per_h": 20}]]}
patient | {"origin": "lumbar", "age_years": 40, "days_since_implant": 3}
patient | {"origin": "spinal", "age_years": 3.5, "days_since_implant": 3}
patient | {"origin": "spinal", "age_years": 40, "new_patient": true}
patient | {"origin": "spinal", "age_years": 40, "reason": "no new patient"}
bolus | {"mcg": 50, "kind": "demand"}
bolus | {"mcg": 50, "duration_s": 0}
bolus | {"mcg": 50, "then": "stop"}
bolus | {"mcg": 50, "then": "schedule", "reason": "no stop follows"}
bolus | {"mcg": 50, "then": "later"}
prime | {}
prime | {"then": "stop"}
settings | {"catheter_cm": 201}
settings | {"catheter_ml_per_cm": 0.011}
stop | {}
stop | {"reason": ""}
stop | {"reason": "\\u001b[2J"}
settings | {}
settings | {"low_reservoir_days": 2.5}
settings | {"low_reservoir_days": -1}
settings | {"low_reservoir_days": 91}
settings | {"low_reservoir_ml": 51}
set_clock | {"iso": "2026-02-29T00:00:00"}
set_clock | {"iso": "2026-13-01T00:00:00"}
set_clock | {"iso": "2100-01-01T00:00:00"}
set_clock | {"iso": "1999-12-31T23:59:59"}
set_clock | {"iso": "2026-03-02 08:00:00"}
set_clock | {"iso": "2026-03-02T24:00:00"}
set_clock | {"iso": 825753600}
set_clock | {"iso": "2026-03-02T08:00:00Z"}
bench | {"fault": "fire"}
bench | {"fault": "pressure"}
bench | {"fault": "stall", "mpsi": 5}
bench | {"fault": "low_battery"}
bench | {"fault": "clock", "mv": 3200}
bench | {"fault": "temperature", "mc": 90000}
bench | {"fault": "pressure", "mpsi": 30001}
bench | {"fault": ["stall"]}
resume | {"now": true}
"""


def assert_bad_args(name, args_json):
    protocol, handler, counter, _ = make(bench=True)
    line = signed(raw_body(name, args_json, 1))
    assert len(line) <= MAX_LINE_BYTES, (name, args_json)
    assert_refused(protocol, handler, counter, line, "bad_args")


def test_bad_arguments_are_refused_and_change_nothing():
    for name, args_json in rows(BAD_ARGS):
        assert_bad_args(name, args_json)


def test_more_than_thirteen_steps_a_day_are_refused():
    steps = ",".join('{"start":"00:%02d","mcg_per_h":1}' % minute for minute in range(14))
    assert_bad_args("set_prescription", '{"steps":[%s]}' % steps)
    day = '[{"start":"00:00","mcg_per_h":1}]'
    week = dict((name, day) for name in ("mon", "tue", "wed", "thu", "sat", "sun"))
    week["fri"] = "[%s]" % steps
    assert_bad_args("set_prescription", '{"week":{%s}}' % ",".join('"%s":%s' % item for item in week.items()))


def test_reason_longer_than_120_characters_is_refused():
    assert_bad_args("stop", '{"reason": "%s"}' % ("x" * 121))


def test_bad_arguments_to_a_read_only_command_are_refused():
    for args_json in ('{"n": 0}', '{"n": 51}', '{"n": "5"}', '{"count": 5}'):
        protocol, handler, counter, _ = make()
        assert_refused(protocol, handler, counter, ('{"cmd": "log", "args": %s}' % args_json).encode(), "bad_args")


def test_not_a_number_is_refused_on_either_interpreter():
    # CPython's json reads NaN as a float (refused here as bad_args); MicroPython's does not parse it.
    protocol, handler, counter, _ = make()
    answer = reply(protocol, signed(raw_body("bolus", '{"mcg": NaN}', 1)))
    assert answer["error"] in ("bad_args", "bad_json")
    assert handler.calls == [] and counter.get() == 0


def test_iso_times_count_seconds_from_2000():
    for iso, clock_s in (("2000-01-01T00:00:00", 0), ("2000-03-01T00:00:00", 5184000),
                         ("2024-02-29T12:34:56", 762525296), ("2026-03-02T08:00:00", 825753600),
                         ("2099-12-31T23:59:59", 3155759999)):
        assert iso_to_clock_s(iso) == clock_s, iso


# --- bench fault injection ------------------------------------------------------

def test_bench_command_is_refused_without_the_jumper_and_logged():
    protocol, handler, counter, events = make(bench=False)
    assert_refused(protocol, handler, counter, signed(raw_body("bench", '{"fault": "stall"}', 1)), "bench_disabled")
    assert kinds(events) == ["bench_refused"]


def test_bench_command_with_the_jumper_runs_and_is_logged():
    protocol, handler, _, events = make(bench=True)
    assert reply(protocol, signed(raw_body("bench", '{"fault": "stall"}', 1)))["ok"] is True
    assert handler.calls[0][:2] == ("bench", {"fault": "stall", "mpsi": None, "mv": None, "mc": None, "min": None})
    assert events == [("bench_fault", NOW_S, {"fault": "stall", "mpsi": None, "mv": None, "mc": None, "min": None})]


# --- the handler's side ---------------------------------------------------------

def test_handler_refusal_becomes_an_error_reply_and_the_counter_stays_used():
    protocol, handler, counter, _ = make(handler=RecordingHandler(refuse=("bolus",)))
    answer = reply(protocol, signed(body("bolus", {"mcg": 50}, ctr=1)))
    assert answer == {"ok": False, "error": "refused", "message": "bolus refused by the fake handler"}
    assert counter.get() == 1


def test_handler_defect_becomes_an_internal_error_reply_and_is_logged():
    class Broken:
        def execute(self, name, args, now_s):
            return {}["missing"]
    protocol, _, _, events = make(handler=Broken())
    answer = reply(protocol, body("status"))
    assert answer["ok"] is False and answer["error"] == "internal"
    assert events == [("protocol_fault", NOW_S, {"error": "KeyError"})]


def test_counter_that_cannot_be_stored_stops_the_command():
    protocol, handler, _, events = make(counter=FailingCounter())
    answer = reply(protocol, signed(body("resume", ctr=1)))
    assert answer["error"] == "storage" and handler.calls == []
    assert events == [("counter_store_failed", NOW_S, {"errno": 28})]


def test_event_log_failure_does_not_escape():
    def failing_log(kind, now_s, detail):
        raise OSError(5)
    protocol = Protocol(RecordingHandler(), KEY, MemoryCounter(), on_event=failing_log)
    answer = json.loads(protocol.handle_line(signed(body("resume", ctr=1), OTHER_KEY), NOW_S))
    assert answer["error"] == "internal"


def test_every_command_has_a_stable_code_in_the_event_log():
    from pump.events import COMMAND_NAMES
    assert sorted(COMMAND_NAMES) == sorted(name for name in COMMANDS if name != "auth")
