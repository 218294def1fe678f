"""The console lock and service mode on the pty board: firmware/main.py on the
MicroPython unix port behind a pty (tools/simboard.py's pieces), the host
end a real serial port (pyserial), mpremote and tools/deploy.py.

The unix port has no USB stack; the simulated board's console
(boards/sim/console.py) does with the interrupt character what the chip's
does, as main.py sets it, so a firmware that left Ctrl-C on would drop to
the REPL here too. tools/unixchip.py boots main.py again after the
firmware's designed reset, and gives the REPL when main.py ends otherwise.
Needs socat (Debian package `socat`).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import serial

import deploy
from mpenv import ROOT
from pumplink import PumpLink
from simboard import running_firmware
from unixchip import RESET_S
from unixboard import deployed_board, needs_socat

KEY_HEX = "3c" * 32
SPEED = 60                  # 1 uL a real second at 30 mcg/h of 500 mcg/mL
UL_PER_H = 60
PROGRAM = (("patient", {"origin": "spinal", "age_years": 40, "days_since_implant": 300}),
           ("refill", {"add_ml": 18, "concentration_mcg_per_ml": 500, "confirm": True}),
           ("settings", {"low_reservoir_ml": 2, "low_reservoir_days": 7}),
           ("set_prescription", {"steps": [{"start": "00:00", "mcg_per_h": 30}]}))
# Into command lines, as a terminal or mpremote would send them.
INTRUSIONS = (b'{"cmd": "sta\x03\x03tus"}\n', b"\r\x01", b'{"cmd": "alarms"\x04}\n',
              b"\r\x03\r\x03\r\x01\x04")

pytestmark = needs_socat


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A stand-in board's folder with the sim firmware deployed on it (a bare board, first install)."""
    return deployed_board(tmp_path_factory.mktemp("pty_console"), KEY_HEX)[0]


@pytest.fixture
def board_root(deployed, tmp_path):
    """A board of its own for each test, as deployed."""
    return shutil.copytree(deployed, tmp_path / "board_root")


def jumpers(root, service=False, speed=SPEED):
    (root / "sim.json").write_text(json.dumps({"speed": speed, "seed": 5, "service": service}))


class Host:
    """The host end of the pty: raw bytes, or commands through pumplink."""

    def __init__(self, port):
        self.link = serial.Serial(port, timeout=0.2)
        self.pump = PumpLink(self.link, bytes.fromhex(KEY_HEX), timeout_s=10)

    def ask(self, name, args=None):
        return self.pump.request(name, args)[0]

    def replies(self, data, count):
        """Send raw bytes; the next `count` reply lines, parsed."""
        self.link.reset_input_buffer()
        self.link.write(data)
        lines, deadline = [], time.monotonic() + 10
        while len(lines) < count and time.monotonic() < deadline:
            line = self.link.readline()
            if line.startswith(b"{"):
                lines.append(json.loads(line))
        return lines

    def log(self, n=50):
        return [(e["event"], e["detail"]) for e in reversed(self.ask("log", {"n": n})["entries"])]

    def close(self):
        self.link.close()


@pytest.fixture
def host_on(tmp_path):
    """host_on(root) -> Host talking to main.py running in `root`, until the test ends."""
    stack = []

    def start(root):
        port = str(tmp_path / ("tty%d" % len(stack)))
        board = running_firmware(root, port)
        board.__enter__()
        stack.append(board)
        assert deploy.pump_answer(port, 20) is not None
        host = Host(port)
        stack.append(host)
        return host
    yield start
    for item in reversed(stack):
        item.close() if isinstance(item, Host) else item.__exit__(None, None, None)


def delivered_ul(before, after):
    return round((before["remaining_ml"] - after["remaining_ml"]) * 1000, 3)


def elapsed_h(before, after):
    parse = lambda s: time.mktime(time.strptime(s["time"], "%Y-%m-%dT%H:%M:%S"))  # noqa: E731
    return (parse(after) - parse(before)) / 3600


def test_control_bytes_during_delivery_are_refused_and_the_pump_keeps_delivering(board_root, host_on):
    jumpers(board_root)
    host = host_on(board_root)
    for name, args in PROGRAM:
        assert host.ask(name, args)["ok"]
    time.sleep(3)
    before = host.ask("status")
    replies = host.replies(b"".join(INTRUSIONS), 6)   # one burst
    time.sleep(1)                                      # a pump minute later, another
    replies += host.replies(b"\n\x03", 1)            # (the newline ends the first run)
    time.sleep(3)
    after = host.ask("status")

    assert [r.get("error") for r in replies] == ["console_locked", "bad_frame", "console_locked",
                                                 "console_locked", "bad_frame", "console_locked",
                                                 "console_locked"]
    assert after["delivering"] and after["alarms"] == []
    # The pump's own account, to its uL resolution: what it pushed while the
    # bytes came is what the rate asks for (a reset or a stop would show).
    assert abs(delivered_ul(before, after) - UL_PER_H * elapsed_h(before, after)) <= 2
    events = [name for name, _ in host.log()]
    assert events.count("console_refused") == 2       # one log entry per burst
    assert not {"crash", "restart", "delivery_gap", "stopped"} & set(events[events.index("prescription"):])


def test_mpremote_cannot_enter_a_locked_pump_and_deploy_says_why(board_root, host_on, capsys):
    jumpers(board_root)
    host = host_on(board_root)
    port = host.link.port
    result = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "resume", "exec",
                             "print(open('device.key').read())"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and KEY_HEX not in result.stdout + result.stderr
    assert "raw REPL" not in result.stdout
    assert deploy.main(["--board", "sim", "--port", port, "--resume", "--no-stop", "--no-reset"]) == 1
    assert "fit the service jumper" in capsys.readouterr().err
    assert host.ask("status")["ok"]


def test_deploy_in_service_mode_the_documented_way_and_the_log_records_it(board_root, host_on, capsys):
    """README, Deploy: fit the service jumper, reset, deploy; remove it, reset."""
    jumpers(board_root, service=True)                  # the jumper fitted, the board reset
    host = host_on(board_root)
    port = host.link.port
    refusal = host.replies(b'{"cmd": "status"}\n', 1)
    assert refusal[0]["error"] == "service_mode"
    host.close()
    assert deploy.main(["--board", "sim", "--port", port, "--resume", "--no-stop", "--no-reset"]) == 0
    out = capsys.readouterr().out
    assert "deployed and verified" in out and "unchanged, skipped: /pump/controller.mpy" in out

    jumpers(board_root, service=False)                 # the jumper removed...
    with serial.Serial(port, timeout=0.2) as link:
        link.write(b"\x04")                            # ...and Ctrl-D at the REPL: main.py again
    time.sleep(RESET_S)
    assert deploy.pump_answer(port, 20)["ok"] is True
    host = Host(port)
    try:
        names = [name for name, _ in host.log()]
        assert names.index("service_entered") < names.index("service_console") < names.index("service_left")
        assert host.ask("status")["ok"]
    finally:
        host.close()


def firmware_pid(root):
    """The unix port running main.py in `root`."""
    for name in os.listdir("/proc"):
        try:
            if os.readlink("/proc/%s/cwd" % name) != str(root):
                continue
            with open("/proc/%s/cmdline" % name, "rb") as f:
                if b"main.py" in f.read().split(b"\0"):
                    return int(name)
        except (OSError, ValueError):
            continue
    raise AssertionError("no main.py running in %s" % root)


def test_a_keyboard_interrupt_in_the_loop_ends_in_a_logged_reset_and_the_restart_alarm(board_root, host_on):
    """SIGINT is how the unix port raises KeyboardInterrupt in running code:
    here it stands for any BaseException reaching the loop."""
    jumpers(board_root)
    host = host_on(board_root)
    for name, args in PROGRAM:
        assert host.ask(name, args)["ok"]
    before = host.ask("status")
    os.kill(firmware_pid(board_root), signal.SIGINT)
    time.sleep(RESET_S + 1)
    after = host.ask("status")
    assert "restart" in after["alarms"] and after["delivering"]
    assert after["time"] >= before["time"]
    events = host.log()
    assert ("crash", "KeyboardInterrupt") in events
    assert [name for name, _ in events][-3:].count("restart") == 1


def test_the_clock_never_goes_back_across_restarts_at_another_speed(board_root, host_on):
    jumpers(board_root, speed=600)
    host = host_on(board_root)
    time.sleep(3)                                      # half an hour of the pump's time
    fast = host.ask("status")["time"]
    os.kill(firmware_pid(board_root), signal.SIGKILL)  # the power cut...
    jumpers(board_root, speed=1)                       # ...and back at 1x
    time.sleep(RESET_S + 1)
    assert deploy.pump_answer(host.link.port, 20) is not None
    assert host.ask("status")["time"] >= fast
