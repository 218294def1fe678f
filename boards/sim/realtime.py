"""The simulated board in real time, for firmware/main.py on the unix port.

This is what `import board; board.build()` gives when tools/deploy.py has
put the simulated board on a MicroPython unix port "board" (a folder behind
a pty): the pump runs its real loop, reads its commands from stdin, writes
its records into a folder, and the physics follows the real clock (times
`speed`, from an optional sim.json, so that an hour can pass in a minute).
Pulses the controller queued are applied as that time passes, whenever the
loop reads the clock or sleeps.
"""
import binascii
import json
import select
import sys
import time

from boards.sim.board import SimBoard
from hw.flashfs import FlashFS
from hw.sim.devices import SimClock, SimStepper
from hw.usb_serial import LineChannel
from pump.protocol import MAX_LINE_BYTES

CONFIG_PATH = "sim.json"
KEY_PATH = "device.key"
UNIX_EPOCH_TO_2000_S = 946_684_800


class RealTimeClock(SimClock):
    """The wall clock; reading it brings the physics up to now."""

    def __init__(self, board):
        SimClock.__init__(self, board.time)
        self.board = board

    def now(self):
        self.board.catch_up()
        return SimClock.now(self)


class RealTimeStepper(SimStepper):
    """Asking what is pending brings the physics up to now first."""

    def __init__(self, board):
        SimStepper.__init__(self, board.time, board.mechanism)
        self.board = board

    def pending(self):
        self.board.catch_up()
        return SimStepper.pending(self)


class RealTimeSimBoard(SimBoard):
    def __init__(self, speed=1, seed=1, fill_ml=20, bench=True):
        since_2000_s = int(time.time()) - UNIX_EPOCH_TO_2000_S
        SimBoard.__init__(self, since_2000_s // 86_400, since_2000_s % 86_400 * 1000, seed,
                          int(fill_ml * 1_000_000), flash=FlashFS("data"), bench_enabled=bench)
        self.speed = speed
        self.started = time.ticks_ms()
        self.clock = RealTimeClock(self)
        self.stepper = RealTimeStepper(self)
        self.serial = LineChannel(sys.stdin.buffer, sys.stdout.buffer, select.poll(), select.POLLIN, MAX_LINE_BYTES)
        self._stdin = select.poll()
        self._stdin.register(sys.stdin, select.POLLIN)
        self.device_key = _read_key(KEY_PATH)

    def catch_up(self):
        """Apply the pulses due by now to the physics."""
        now = time.ticks_diff(time.ticks_ms(), self.started) * self.speed
        for _t, forward in self.stepper.due_before(now):
            self.stepper.emit(forward)
        self.time.t_ms = now

    def sleep_until(self, ms_from_now):
        """Sleep in real time, waking early for a line on stdin."""
        if ms_from_now > 0:
            self._stdin.poll(max(1, ms_from_now // self.speed))
        self.catch_up()

    def selftest(self, alarm_patterns):
        from hw import selftest  # real time passes here, so the real self-test runs
        return selftest.run(self, alarm_patterns)

    @staticmethod
    def reset():
        sys.exit(70)  # the unix port has no reset: end, and let whoever started it restart it


def _read_key(path):
    try:
        with open(path) as f:
            return binascii.unhexlify(f.read().strip())
    except OSError:
        return None


def build():
    options = {}
    try:
        with open(CONFIG_PATH) as f:
            options = json.load(f)
    except OSError:
        pass
    return RealTimeSimBoard(**options)
