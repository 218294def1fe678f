"""The USB console locked outside service mode, on the mocked reference board.

The rig is test_main_on_board's: firmware/main.py on the board's real build()
over fake_machine, whose USB console (fake_machine.UsbConsole) does what the
RP2040's does with the interrupt character: while micropython.kbd_intr has
it at 0x03, that byte never reaches stdin and raises KeyboardInterrupt in
the running code. So a firmware that forgot to lock the console fails here
the way the chip would fail: in the REPL, not delivering.
"""
import importlib
import json
import sys
from unittest import mock

import pytest

from pump.schema import COMMANDS, needs_mac
from test_main_on_board import KEY, USUAL, Hung, Pump, pump  # noqa: F401 (pump is a fixture)

STEP, EN, BUZZER, LAMP_GREEN = 2, 4, 15, 18
SERVICE = 22                # GP22: the service jumper, to ground
MINUTE_MS = 60_000
CTRL_A, CTRL_C, CTRL_D = b"\x01", b"\x03", b"\x04"
# What a terminal or mpremote may send into a command line during delivery:
# at minute 3 one burst (three lines, control bytes a second apart), at
# minute 6 a second one, then the status that must still be answered.
INTRUSIONS = (
    (3 * MINUTE_MS, b'{"cmd": "sta' + CTRL_C + CTRL_C + b'tus"}\n'),
    (3 * MINUTE_MS + 1_000, b"\r" + CTRL_A),                    # mpremote: enter the raw REPL
    (3 * MINUTE_MS + 2_000, b'{"cmd": "alarms"' + CTRL_D + b"}\n"),   # Ctrl-D: soft reset
    (6 * MINUTE_MS, b"\r" + CTRL_C + b"\r" + CTRL_C + b"\r" + CTRL_A + CTRL_D),
)


def log_entries(pump):
    return pump.ask("log", {"n": 50})["entries"]


def replies_after(pump, at):
    return [json.loads(line) for line in bytes(pump.rig.stdout.written[at:]).splitlines()]


def test_the_console_is_locked_before_anything_else_runs(pump):
    """main.py's first statement, at import, before the board is even built."""
    assert pump.hw.micropython.kbd_intr.call_args_list == [mock.call(-1)]
    assert pump.hw.interrupt_char == -1
    assert pump.board is None and pump.hw.wdt is None


def test_control_bytes_in_command_lines_during_delivery_are_refused_and_delivery_goes_on(pump):
    pump.boot()
    pump.program(USUAL)
    start_us = pump.hw.now_us
    written_before = len(pump.rig.stdout.written)
    pending = list(INTRUSIONS)

    def intrude(_board):
        while pending and pump.hw.now_us - start_us >= pending[0][0] * 1000:
            pump.rig.stdin.feed(pending.pop(0)[1])
    try:
        pump.serve_for(10 * MINUTE_MS, watch=intrude)
    except KeyboardInterrupt:   # pytest would take it for the user's own Ctrl-C
        pytest.fail("a control byte interrupted the loop: the pump is at the REPL, not delivering")
    assert not pending

    replies = replies_after(pump, written_before)
    assert all(reply["ok"] is False for reply in replies)
    # One refusal per run of control bytes (carriage returns inside a run
    # change nothing): 4 runs; what followed a run in its line was refused
    # as the fragment it is.
    assert [r["error"] for r in replies] == ["console_locked", "bad_frame", "console_locked",
                                             "console_locked", "bad_frame", "console_locked"]
    status = pump.ask("status")
    assert status["ok"] and status["delivering"] and status["alarms"] == []
    pump.hw.machine.reset.assert_not_called()

    steps_us = pump.hw.pin(STEP).rising_edges_us()
    for at_us in steps_us + [pump.hw.now_us]:
        ideal = USUAL.ideal_steps(at_us - start_us)
        assert abs(sum(1 for t in steps_us if t <= at_us) - ideal) <= 1, at_us
    refused = [e for e in log_entries(pump) if e["event"] == "console_refused"]
    assert [e["detail"] for e in refused] == ["console control byte 0x03 refused (console locked)"] * 2


def test_a_command_ended_by_a_nul_byte_is_refused_not_run(pump):
    """NUL is a control byte like the others (found by the channel fuzz: it
    once read as "no control byte" and let the command through)."""
    pump.boot()
    pump.program(USUAL)
    before = len(pump.rig.stdout.written)
    pump.rig.stdin.feed(pump.frame("stop", {"reason": "a NUL after me"})[:-1] + b"\x00\n")
    pump.serve_for(1_000)
    assert [r["error"] for r in replies_after(pump, before)] == ["console_locked"]
    assert pump.ask("status")["delivering"] is True


def test_a_module_that_cannot_be_imported_ends_in_the_boards_panic_not_the_repl(pump):
    panic = sys.modules["board"].panic
    sys.modules.pop("main")
    with mock.patch.dict(sys.modules, {"pump.commands": None}):   # import fails: ImportError
        with pytest.raises(SystemExit):
            importlib.import_module("main")
    panic.assert_called_once_with()


def test_without_the_lock_the_same_bytes_would_drop_the_pump_to_the_repl(pump):
    """What the lock prevents, shown on the same rig: the interrupt character
    left at Ctrl-C, a KeyboardInterrupt would end serve() mid-delivery."""
    pump.boot()
    pump.program(USUAL)
    pump.hw.micropython.kbd_intr(3)
    pump.rig.stdin.feed(CTRL_C)
    with pytest.raises(KeyboardInterrupt):
        pump.serve_for(MINUTE_MS)


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit], ids=["KeyboardInterrupt", "SystemExit"])
def test_a_base_exception_in_the_loop_is_logged_and_resets_into_the_restart_alarm(pump, exc):
    real_advance = pump.main.Controller.advance
    budget_us = pump.hw.now_us + 3_600_000 * 1000
    raised = []

    def advance_raising_once(ctl, day, ms):
        if ctl.delivering and not raised:
            raised.append(ms)
            raise exc()
        if pump.hw.now_us > budget_us:
            raise Hung("delivery never started")
        return real_advance(ctl, day, ms)

    for name, args in USUAL.commands():
        pump.rig.stdin.feed(pump.frame(name, args))
    with mock.patch.object(pump.main.Controller, "advance", advance_raising_once):
        pump.main.main()        # returns only because the fake machine.reset does
    assert raised
    pump.hw.machine.reset.assert_called_once_with()

    pump.boot()                 # the board after its reset
    assert "restart" in pump.ask("status")["alarms"]
    crashes = [e["detail"] for e in log_entries(pump) if e["event"] == "crash"]
    assert crashes == [exc.__name__]


def test_no_reply_to_any_command_carries_the_device_key(pump):
    pump.boot()
    pump.program(USUAL)
    for name in sorted(COMMANDS):
        if not needs_mac(name):
            reply = json.dumps(pump.ask(name))
            assert KEY.hex() not in reply.lower() and KEY.hex().upper() not in reply, name
            assert "key" not in json.loads(reply), name


# ------------------------------------------------------------ service mode

class Jumpered(Pump):
    """main.main() with the service jumper fitted, the host end scripted by
    fake-time timers (main() only returns through an exception here)."""

    def at(self, ms, data):
        timer = self.hw.machine.Timer()
        timer.init(mode=timer.ONE_SHOT, period=ms, callback=lambda _t: self.rig.stdin.feed(data))
        return timer


@pytest.fixture
def jumpered(pump):
    pump.hw.drive(SERVICE, 0)
    return Jumpered(pump.rig, pump.main)


def test_service_mode_delivers_nothing_announces_itself_and_opens_the_console_to_ctrl_c(jumpered):
    pump = jumpered
    (pump.rig.tmp_path / "data").mkdir()
    started_us = pump.hw.now_us
    pump.at(5_000, b'{"cmd": "status"}\n')
    pump.at(60_000, CTRL_C)
    with pytest.raises(KeyboardInterrupt):
        pump.main.main()
    assert pump.hw.now_us - started_us >= 60_000 * 1000
    assert pump.hw.interrupt_char == 3                     # the console is open
    assert pump.hw.wdt is None                             # no watchdog to reset the REPL
    assert pump.hw.pin(STEP).rising_edges_us() == [] and pump.hw.pin(EN).value() == 1
    reply = json.loads(bytes(pump.rig.stdout.written))
    assert reply["ok"] is False and reply["error"] == "service_mode"
    chirps = [t for t, duty in pump.hw.pwms[BUZZER].history if duty]
    assert len(chirps) >= 2 * 5                            # two every 10 s for a minute
    green_on = pump.hw.pin(LAMP_GREEN).rising_edges_us()
    assert len(green_on) >= 55                             # flashing at 1 Hz

    pump.hw.drive(SERVICE, 1)                              # jumper off, reset: a pump again
    pump.boot()
    events = [(e["event"], e["detail"]) for e in reversed(log_entries(pump))]   # oldest first
    names = [name for name, _ in events]
    assert names.index("service_entered") < names.index("service_console") < names.index("service_left")
    assert ("service_console", "Ctrl-C: the REPL was opened") in events
    left = [detail for name, detail in events if name == "service_left"]
    assert len(left) == 1 and left[0].startswith("service mode since 2026-03-02T08:00")
    pump.boot()                                            # and only the first boot after it says so
    assert [e["event"] for e in log_entries(pump)].count("service_left") == 1


def test_the_bench_jumper_alone_is_not_service_mode(pump):
    pump.hw.drive(21, 0)
    pump.boot()
    assert pump.board.bench_enabled and not pump.board.service_mode
    assert pump.hw.wdt is not None


def test_a_board_that_cannot_be_built_in_service_mode_leaves_the_console_to_the_engineer(pump):
    """The reference board's panic() with the service jumper: loud, the motor
    off, no watchdog started, and the REPL reachable to repair what failed."""
    pump.hw.drive(SERVICE, 0)
    panic = pump.hw.load("boards.refpump_rp2040").panic
    with mock.patch("time.sleep_ms", mock.Mock(side_effect=Hung("panic() looped"))):
        panic()
    assert pump.hw.interrupt_char == 3 and pump.hw.wdt is None
    assert pump.hw.pin(EN).value() == 1 and pump.hw.pwms[BUZZER].duty > 0
