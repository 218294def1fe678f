"""pumpctl against a pump on a fake serial line, and end to end over a pty.

The fake serial runs the real firmware protocol in-process (with the
recording handler of the shared protocol tests), so every line pumpctl
writes is checked exactly as the board checks it, and the MACs pumpctl makes
with CPython's hmac are verified by the firmware's own HMAC-SHA256. The pty
test runs the same protocol under the MicroPython unix port.
"""
import argparse
import datetime
import hashlib
import hmac
import json
import os
import pty
import subprocess
import tty

import pytest

import mpenv
import pumpctl
from pump.commands import PLAN_NEEDS
from pump.protocol import MAX_LINE_BYTES, Protocol
from hw.keyfile import KEY_BYTES
from pump.schema import CHOICE, COMMANDS, REQUIRED
from pump.units import iso_to_clock_s
from test_protocol import KEY, NOW_S, MemoryCounter, RecordingHandler

KEY_HEX = KEY.hex()


class FakeSerial:
    """The pump's end of a serial line, in-process: each line written gets the protocol's reply."""

    def __init__(self, protocol, chatter=b""):
        self.protocol = protocol
        self.chatter = chatter  # bytes the "board" prints before each reply
        self.written = []
        self.closed = False
        self._incoming = b""
        self._outgoing = b""

    def write(self, data):
        self._incoming += data
        while b"\n" in self._incoming:
            line, self._incoming = self._incoming.split(b"\n", 1)
            self.written.append(line)
            self._outgoing += self.chatter + self.protocol.handle_line(line, NOW_S)

    def readline(self):
        line, sep, rest = self._outgoing.partition(b"\n")
        self._outgoing = rest
        return line + sep

    def reset_input_buffer(self):
        self._outgoing = b""

    def close(self):
        self.closed = True


class SilentSerial(FakeSerial):
    def write(self, data):
        self.written.append(data)


class Pump:
    """A protocol with a recording handler behind a fake serial port."""

    def __init__(self, replies=None, counter=0, bench=False, chatter=b""):
        self.handler = RecordingHandler()
        if replies:
            self.handler.execute = self._replying(replies)
        self.counter = MemoryCounter(counter)
        self.serial = FakeSerial(Protocol(self.handler, KEY, self.counter, bench_enabled=bench), chatter)

    def _replying(self, replies):
        def execute(name, args, now_s):
            self.handler.calls.append((name, args, now_s))
            return replies[name]
        return execute

    def run(self, *argv):
        return pumpctl.main(["--port", "fake"] + list(argv), open_port=lambda port, baud: self.serial)


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "device.key"
    path.write_text(KEY_HEX + "\n")
    return str(path)


def test_read_only_command_prints_fields_as_rows_the_telling_ones_first(capsys):
    pump = Pump({"status": {"state": "delivering", "rate_mcg_per_h": 20.5, "reservoir": {"ml": 12.5}}})
    assert pump.run("status") == pumpctl.EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out == ["state           delivering", "rate_mcg_per_h  20.5", "reservoir.ml    12.5"]
    assert pump.serial.written == [b'{"cmd":"status"}']


def test_list_of_objects_prints_as_a_table(capsys):
    alarms = [{"kind": "occlusion", "priority": "high"},
              {"kind": "low_reservoir", "priority": "medium", "acknowledged_s": 100}]
    assert Pump({"alarms": {"alarms": alarms}}).run("alarms") == pumpctl.EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out[-3:] == ["kind           priority  acknowledged_s",
                        "occlusion      high      -",
                        "low_reservoir  medium    100"]


def test_json_prints_the_reply_line_as_received(capsys):
    assert Pump().run("--json", "version") == pumpctl.EXIT_OK
    assert capsys.readouterr().out == '{"command": "version", "ok": true}\n'


def test_state_changing_command_uses_the_counter_the_pump_reports(key_file):
    pump = Pump(counter=41)
    assert pump.run("--key-file", key_file, "bolus", "50") == pumpctl.EXIT_OK
    auth, bolus = pump.serial.written
    assert auth == b'{"cmd":"auth"}'
    body = b'{"cmd":"bolus","args":{"mcg":50},"ctr":42}'
    assert bolus == hmac.new(KEY, body, hashlib.sha256).hexdigest().encode() + b" " + body
    assert pump.handler.calls == [("bolus", {"ng": 50000, "kind": "clinician", "duration_s": 60, "override": None,
                                             "then": None, "reason": None}, NOW_S)]
    assert pump.counter.get() == 42


def test_counter_file_supplies_the_counter_and_records_it(key_file, tmp_path):
    counter_file = tmp_path / "counter"
    counter_file.write_text("41\n")
    pump = Pump(counter=7)
    assert pump.run("--key-file", key_file, "--counter-file", str(counter_file), "resume") == pumpctl.EXIT_OK
    assert len(pump.serial.written) == 1 and pump.serial.written[0].endswith(b'"ctr":42}')
    assert counter_file.read_text() == "42\n"


def test_missing_counter_file_starts_at_counter_one(key_file, tmp_path):
    counter_file = tmp_path / "counter"
    pump = Pump()
    assert pump.run("--key-file", key_file, "--counter-file", str(counter_file), "ack") == pumpctl.EXIT_OK
    assert pump.counter.get() == 1 and counter_file.read_text() == "1\n"


def test_counter_file_behind_the_pump_is_refused_with_a_hint(key_file, tmp_path, capsys):
    counter_file = tmp_path / "counter"
    counter_file.write_text("3\n")
    pump = Pump(counter=10)
    assert pump.run("--key-file", key_file, "--counter-file", str(counter_file), "ack") == pumpctl.EXIT_REFUSED
    err = capsys.readouterr().err
    assert "replay" in err and "leave out --counter-file" in err
    assert pump.handler.calls == []


def test_refusal_exits_1_and_names_the_error(key_file, capsys):
    pump = Pump()
    assert pump.run("--key-file", key_file, "bolus", "5000") == pumpctl.EXIT_REFUSED
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "refused bolus: bad_args: mcg: must be 0.001 to 1000" in captured.err


def test_refusal_with_json_prints_the_reply_too(key_file, capsys):
    assert Pump().run("--json", "--key-file", key_file, "bench", "stall") == pumpctl.EXIT_REFUSED
    assert json.loads(capsys.readouterr().out)["error"] == "bench_disabled"


def test_wrong_key_is_refused(tmp_path, capsys):
    other = tmp_path / "other.key"
    other.write_text("11" * 32)
    assert Pump().run("--key-file", str(other), "resume") == pumpctl.EXIT_REFUSED
    assert "bad_mac" in capsys.readouterr().err


def test_no_answer_exits_3(capsys):
    silent = SilentSerial(None)
    code = pumpctl.main(["--port", "fake", "--timeout", "0.05", "status"], open_port=lambda port, baud: silent)
    assert code == pumpctl.EXIT_NO_ANSWER
    assert "no reply to status within 0.05 s on fake" in capsys.readouterr().err


def test_port_that_cannot_be_opened_exits_4(tmp_path, capsys):
    assert pumpctl.main(["--port", str(tmp_path / "no-such-tty"), "status"]) == pumpctl.EXIT_LINK
    assert "cannot open" in capsys.readouterr().err


def test_malformed_key_file_exits_4(tmp_path, capsys):
    bad = tmp_path / "bad.key"
    bad.write_text("abcde")
    assert Pump().run("--key-file", str(bad), "resume") == pumpctl.EXIT_LINK
    assert "64 hex digits" in capsys.readouterr().err


def test_state_changing_command_without_a_key_file_is_a_usage_error(monkeypatch):
    monkeypatch.delenv("PUMPCTL_KEY_FILE", raising=False)
    with pytest.raises(SystemExit) as stop:
        Pump().run("resume")
    assert stop.value.code == pumpctl.EXIT_USAGE


def test_malformed_step_is_a_usage_error(key_file):
    with pytest.raises(SystemExit) as stop:
        Pump().run("--key-file", key_file, "set-prescription", "07:00-20")
    assert stop.value.code == pumpctl.EXIT_USAGE


def test_command_too_long_for_one_line_is_a_usage_error(key_file, capsys):
    pump = Pump()
    code = pump.run("--key-file", key_file, "set-prescription", "00:00=30", "--override", "x" * MAX_LINE_BYTES)
    assert code == pumpctl.EXIT_USAGE
    assert "the pump takes at most %d" % MAX_LINE_BYTES in capsys.readouterr().err
    assert pump.handler.calls == []


# argv -> the usage error: each `plan WHAT` names the options it still needs, as typed.
PLAN_WITHOUT_ITS_OPTIONS = (
    (["plan", "starting_dose"], "plan starting_dose needs --screening-mcg and --effect-h"),
    (["plan", "starting_dose", "--screening-mcg", "50"], "plan starting_dose needs --effect-h"),
    (["plan", "taper"], "plan taper needs --days"),
    (["plan", "flex_preview", "--days", "14"], "plan flex_preview needs --effects"),
    (["plan", "csf_curve"], "plan csf_curve needs --hours"),
    (["plan", "flex_week_preview"], "plan flex_week_preview needs --week-effects"),
    (["plan", "flex_week_preview", "--week-effects", "mon-sat", "01:00=40"],
     "--week-effects needs every day of the week; sun missing"),
)

# set-prescription argv -> the usage error, before anything is sent
WEEKLY_USAGE_ERRORS = (
    ([], "give the daily steps (HH:MM=MCG_PER_H ...) or a week (--day DAYS HH:MM=MCG_PER_H ...)"),
    (["00:00=30", "--day", "mon-sun", "00:00=30"], "give the daily steps or --day, not both"),
    (["--day", "mon-fri", "00:00=30"], "--day needs every day of the week; sat, sun missing"),
    (["--day", "mon-sun", "00:00=30", "--day", "sun", "00:00=20"], "--day sun is given twice"),
    (["--day", "00:00=30"], "--day wants the days first, like mon-fri 00:00=30"),
    (["--day", "monday", "00:00=30"], "--day 'monday' is not a day, a range like mon-fri or a list like sat,sun"),
    (["--day", "mon-sun"], "--day mon-sun: give its steps, like 00:00=30"),
    (["--day", "mon-sun", "7am"], "--day mon-sun: expected HH:MM=MCG_PER_H (like 07:00=20), got '7am'"),
)


@pytest.mark.parametrize("argv, message", WEEKLY_USAGE_ERRORS)
def test_a_malformed_week_is_a_usage_error_naming_the_problem(argv, message, key_file, capsys):
    pump = Pump()
    with pytest.raises(SystemExit) as stop:
        pump.run("--key-file", key_file, "set-prescription", *argv)
    assert stop.value.code == pumpctl.EXIT_USAGE
    assert capsys.readouterr().err.endswith("error: %s\n" % message)
    assert pump.serial.written == []


@pytest.mark.parametrize("argv, message", PLAN_WITHOUT_ITS_OPTIONS)
def test_plan_without_the_options_it_needs_is_a_usage_error_naming_them(argv, message, capsys):
    pump = Pump()
    with pytest.raises(SystemExit) as stop:
        pump.run(*argv)
    assert stop.value.code == pumpctl.EXIT_USAGE
    assert capsys.readouterr().err.endswith("error: %s\n" % message)
    assert pump.serial.written == []


def test_plan_options_needed_are_the_fields_the_pump_needs():
    fields = COMMANDS["plan"][1]
    for what, options in pumpctl.PLAN_NEEDS:
        assert tuple(fields[option[2:].replace("-", "_")][1] for option in options) == PLAN_NEEDS[what], what



def subcommand_arguments():
    """(command on the wire, argparse action) for every argument of every subcommand."""
    parser = pumpctl.build_parser()
    subcommands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    for sub in subcommands.choices.values():
        for action in sub._actions:
            yield sub.get_default("wire"), action


def test_every_choice_pumpctl_offers_is_the_pump_tables_list():
    """pumpctl reads its choices from pump.schema: each choice argument of the
    table is offered, with the same words in the same order, and no other."""
    offered = {(wire, action.dest): tuple(action.choices)
               for wire, action in subcommand_arguments() if action.choices is not None}
    table = {(name, field): limits for name, (_mac, fields, _check) in COMMANDS.items()
             for field, (kind, _key, _default, limits) in fields.items() if kind == CHOICE}
    assert offered == table


def test_every_plan_the_pump_makes_is_offered_with_the_options_it_needs():
    assert sorted(what for what, _options in pumpctl.PLAN_NEEDS) == sorted(PLAN_NEEDS)


def test_the_usage_text_gives_the_key_files_length_the_board_reads():
    # the module docstring is pumpctl's --help epilog: prose, so a copy
    assert "%d hex digits" % (2 * KEY_BYTES) in pumpctl.__doc__

CARD = {"drug": "baclofen, intrathecal", "concentration_mcg_per_ml": 500, "reservoir_ml": 12.5, "capacity_ml": 20,
        "state": "delivering", "empty_at": "2026-03-21T08:47:59", "low_alarm_at": "2026-03-17T08:47:59",
        "refill_by": "2026-03-14T08:47:59", "alarm_lead_days": 7, "serial": "e6613852831f4a2c",
        "firmware": "0.1.0", "time": "2026-03-09T08:00:00", "program": "weekly", "week_mcg": 4200,
        "days": [{"day": day, "daily_mcg": 600, "steps": [{"start": "00:00", "mcg_per_h": 25}]}
                 for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")]}


def test_the_card_prints_as_a_card_and_as_a_page(tmp_path, capsys):
    png = tmp_path / "card.png"
    assert Pump({"card": CARD}).run("card", "--png", str(png)) == pumpctl.EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("REFILL-VISIT CARD") and out[0].endswith("Mon 2026-03-09 08:00")
    assert "Program        weekly, 4200 mcg a week" in out
    assert "  sat            600 mcg/day   00:00 25 mcg/h" in out
    assert "Empty          Sat 2026-03-21 08:47 (projected)" in out
    assert "Refill by      Sat 2026-03-14 08:47 (7 days before empty: the alarm's lead)" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_card_that_cannot_be_written_is_a_file_failure(capsys):
    assert Pump({"card": CARD}).run("card", "--png", "/nonexistent/dir/card.png") == pumpctl.EXIT_LINK
    assert capsys.readouterr().err.startswith("pumpctl: ")


def test_board_chatter_before_the_reply_is_skipped(capsys):
    pump = Pump({"version": {"firmware": "0.1"}}, chatter=b"MicroPython boot\r\n{\"cmd\": \"echo\"}\n")
    assert pump.run("version") == pumpctl.EXIT_OK
    assert "firmware  0.1" in capsys.readouterr().out


def test_port_is_closed_afterwards():
    pump = Pump()
    pump.run("status")
    assert pump.serial.closed


def test_set_clock_defaults_to_this_computers_local_time(key_file):
    pump = Pump()
    before = iso_to_clock_s(datetime.datetime.now().strftime("%Y-%m-%dT%H:%M:%S"))
    assert pump.run("--key-file", key_file, "set-clock") == pumpctl.EXIT_OK
    after = iso_to_clock_s(datetime.datetime.now().strftime("%Y-%m-%dT%H:%M:%S"))
    assert before <= pump.handler.calls[0][1]["clock_s"] <= after


# argv after the global options -> (command on the wire, what the handler gets)
SUBCOMMANDS = (
    (["status"], "status", {}), (["prescription"], "prescription", {}), (["reservoir"], "reservoir", {}),
    (["alarms"], "alarms", {}), (["version"], "version", {}), (["log"], "log", {"n": 10, "before": None}),
    (["log", "-n", "3"], "log", {"n": 3, "before": None}),
    (["log", "-n", "3", "--before", "40"], "log", {"n": 3, "before": 40}),
    (["patient", "cerebral", "--age-years", "9", "--days-since-implant", "0"], "patient",
     {"origin": "cerebral", "age_years": 9, "days_since_implant": 0, "starting_ng_per_day": None,
      "new_patient": False, "reason": None, "override": None}),
    (["patient", "spinal", "--age-years", "40", "--starting-mcg-per-day", "120.5", "--new-patient",
      "--reason", "another patient", "--override", "reviewed"], "patient",
     {"origin": "spinal", "age_years": 40, "days_since_implant": None, "starting_ng_per_day": 120500,
      "new_patient": True, "reason": "another patient", "override": "reviewed"}),
    (["set-prescription", "07:00=20", "00:00=30.5"], "set_prescription",
     {"steps": ((0, 30500), (25200000, 20000)), "week": None, "kind": None, "dilution": False, "override": None}),
    (["set-prescription", "00:00=40", "--kind", "refill", "--dilution", "--override", "titrating"],
     "set_prescription", {"steps": ((0, 40000),), "week": None, "kind": "refill", "dilution": True,
                          "override": "titrating"}),
    (["set-prescription", "--day", "mon-fri", "00:00=30", "07:00=20", "--day", "sat,sun", "09:00=25"],
     "set_prescription", {"steps": None, "week": ((((0, 30000), (25200000, 20000)),) * 5 + (((32400000, 25000),),) * 2),
                          "kind": None, "dilution": False, "override": None}),
    (["set-prescription", "--day", "sat-mon", "00:00=30", "--day", "tue-fri", "00:00=20"],
     "set_prescription", {"steps": None, "week": (((0, 30000),),) + (((0, 20000),),) * 4 + (((0, 30000),),) * 2,
                          "kind": None, "dilution": False, "override": None}),
    (["refill", "--add-ml", "15", "--concentration", "500"], "refill",
     {"add_nl": 15000000, "concentration_ng_per_ml": 500000, "dilution": False, "confirm": False, "override": None}),
    (["refill", "--add-ml", "0.5", "--concentration", "1250", "--dilution", "--confirm", "--override", "stock"],
     "refill", {"add_nl": 500000, "concentration_ng_per_ml": 1250000, "dilution": True, "confirm": True,
                "override": "stock"}),
    (["bolus", "75"], "bolus", {"ng": 75000, "kind": "clinician", "duration_s": 60, "override": None,
                                "then": None, "reason": None}),
    (["bolus", "75", "--kind", "screening", "--duration-s", "120", "--override", "screening"], "bolus",
     {"ng": 75000, "kind": "screening", "duration_s": 120, "override": "screening", "then": None, "reason": None}),
    (["bolus", "50", "--duration-s", "600", "--then", "stop", "--reason", "then hold"], "bolus",
     {"ng": 50000, "kind": "clinician", "duration_s": 600, "override": None, "then": "stop", "reason": "then hold"}),
    (["prime", "--then", "schedule"], "prime", {"then": "schedule", "reason": None}),
    (["prime", "--then", "stop", "--reason", "revision"], "prime", {"then": "stop", "reason": "revision"}),
    (["bridge", "--confirm"], "bridge", {"confirm": True}),
    (["settings", "--catheter-cm", "50", "--catheter-ml-per-cm", "0.0022"], "settings",
     {"low_reservoir_nl": None, "low_reservoir_days": None, "catheter_cm": 50, "catheter_nl_per_cm": 2200}),
    (["stop", "overdose", "suspected"], "stop", {"reason": "overdose suspected"}),
    (["resume"], "resume", {}), (["ack"], "ack", {}), (["silence"], "silence", {}),
    (["settings", "--low-reservoir-ml", "2.5"], "settings", {"low_reservoir_nl": 2500000, "low_reservoir_days": None,
                                                                   "catheter_cm": None, "catheter_nl_per_cm": None}),
    (["settings", "--low-reservoir-days", "7"], "settings", {"low_reservoir_nl": None, "low_reservoir_days": 7,
                                                                    "catheter_cm": None, "catheter_nl_per_cm": None}),
    (["set-clock", "2026-03-02T08:00:00"], "set_clock", {"clock_s": 825753600}),
    (["bench", "pressure", "--mpsi", "25000"], "bench", {"fault": "pressure", "mpsi": 25000, "mv": None, "mc": None, "min": None}),
    (["bench", "low_battery", "--mv", "3200"], "bench", {"fault": "low_battery", "mpsi": None, "mv": 3200, "mc": None, "min": None}),
    (["bench", "temperature", "--mc", "-5000"], "bench", {"fault": "temperature", "mpsi": None, "mv": None, "mc": -5000, "min": None}),
    (["bench", "sensor_stuck"], "bench", {"fault": "sensor_stuck", "mpsi": None, "mv": None, "mc": None, "min": None}),
    (["bench", "outage", "--min", "720"], "bench", {"fault": "outage", "mpsi": None, "mv": None, "mc": None, "min": 720}),
    (["bench", "clear"], "bench", {"fault": "clear", "mpsi": None, "mv": None, "mc": None, "min": None}),
    (["selftest"], "selftest", {}),
    (["--json", "card"], "card", {}),
    (["plan", "starting_dose", "--screening-mcg", "50", "--effect-h", "6"], "plan",
     {"what": "starting_dose", "screening_ng": 50000, "effect_h": 6, "days": None, "hours": None, "effects": None,
      "week_effects": None}),
    (["plan", "flex_preview", "--effects", "22:00=40"], "plan",
     {"what": "flex_preview", "screening_ng": None, "effect_h": None, "days": None, "hours": None,
      "effects": ((79200000, 40000),), "week_effects": None}),
    (["plan", "flex_week_preview", "--week-effects", "mon-sun", "01:00=40"], "plan",
     {"what": "flex_week_preview", "screening_ng": None, "effect_h": None, "days": None, "hours": None,
      "effects": None, "week_effects": (((3600000, 40000),),) * 7}),
    (["plan", "taper", "--days", "14"], "plan",
     {"what": "taper", "screening_ng": None, "effect_h": None, "days": 14, "hours": None, "effects": None,
      "week_effects": None}),
    (["plan", "csf_curve", "--hours", "12"], "plan",
     {"what": "csf_curve", "screening_ng": None, "effect_h": None, "days": None, "hours": 12, "effects": None,
      "week_effects": None}),
)


def test_every_subcommand_reaches_the_pump_as_its_command(key_file):
    for argv, wire_name, handler_args in SUBCOMMANDS:
        pump = Pump(bench=True)
        assert pump.run("--key-file", key_file, *argv) == pumpctl.EXIT_OK, argv
        assert pump.handler.calls == [(wire_name, handler_args, NOW_S)], argv


def test_every_argument_of_every_command_can_be_sent():
    """pumpctl can send all the table allows: each field of each command is
    given (not left at its default) by some subcommand above."""
    for name, (_mac, fields, _check) in COMMANDS.items():
        for field, (_kind, key, default, _limits) in fields.items():
            given = [args for _argv, wire_name, args in SUBCOMMANDS
                     if wire_name == name and args.get(key) is not None and args[key] != default]
            assert given or default == REQUIRED, (name, field)


def test_the_longest_commands_go_through_pumpctl(key_file):
    """Ten steps with three-decimal rates and a 120-character override; the
    patient with both its texts at 120 characters outside the BMP."""
    steps = ["23:%02d=1999.999" % minute for minute in range(10)]
    longest = (["set-prescription"] + steps + ["--kind", "titration", "--dilution", "--override", "\u00e9" * 120],
               ["patient", "cerebral", "--age-years", "120", "--days-since-implant", "36500",
                "--starting-mcg-per-day", "47999.999", "--new-patient", "--reason", "\U0001F48A" * 120,
                "--override", "\U0001F48A" * 120])
    for argv in longest:
        pump = Pump()
        assert pump.run("--key-file", key_file, *argv) == pumpctl.EXIT_OK, argv[0]
        assert len(pump.handler.calls) == 1


def test_every_pump_command_has_a_subcommand():
    covered = {wire_name for _argv, wire_name, _args in SUBCOMMANDS} | {"auth"}
    assert covered == set(COMMANDS)


FAKE_BOARD = """
import sys, binascii
from pump.protocol import MAX_LINE_BYTES, Protocol
from test_protocol import RecordingHandler, MemoryCounter
protocol = Protocol(RecordingHandler(), binascii.unhexlify(sys.argv[1]), MemoryCounter())
while True:
    line = sys.stdin.buffer.readline()
    if not line:
        break
    sys.stdout.buffer.write(protocol.handle_line(line.rstrip(b"\\n"), %d))
""" % NOW_S


def test_end_to_end_over_a_pty_with_the_protocol_under_micropython(tmp_path, key_file, capsys):
    script = tmp_path / "fake_board.py"
    script.write_text(FAKE_BOARD)
    board_end, host_end = pty.openpty()
    tty.setraw(host_end)
    board = subprocess.Popen(mpenv.micropython_command() + [str(script), KEY_HEX], stdin=board_end,
                             stdout=board_end, env=mpenv.micropython_env(), cwd=mpenv.ROOT)
    os.close(board_end)
    port = os.ttyname(host_end)
    try:
        assert pumpctl.main(["--port", port, "status"]) == pumpctl.EXIT_OK
        assert pumpctl.main(["--port", port, "--key-file", key_file, "--json", "bolus", "50"]) == pumpctl.EXIT_OK
        assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"ok": True, "command": "bolus", "ctr": 1}
        assert pumpctl.main(["--port", port, "--key-file", key_file, "bench", "stall"]) == pumpctl.EXIT_REFUSED
        assert pumpctl.main(["--port", port, "--json", "auth"]) == pumpctl.EXIT_OK
        assert json.loads(capsys.readouterr().out.splitlines()[-1])["ctr"] == 1
    finally:
        os.close(host_end)
        board.terminate()
        board.wait(timeout=5)
