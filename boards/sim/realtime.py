"""The simulated board in real time, for firmware/main.py on the unix port.

This is what `import board; board.build()` gives when tools/deploy.py has
put the simulated board on a MicroPython unix port "board" (a folder behind
a pty): the pump runs its real loop, reads its commands from stdin, writes
its records into a folder, and the physics follows the real clock (times
`speed`, from an optional sim.json, so that an hour can pass in a minute).
Pulses the controller queued are applied as that time passes, whenever the
loop reads the clock or sleeps.
"""
import json
import select
import sys
import time

from hw.sim.board import SimBoard
from boards.sim.console import ChipConsole
from hw.flashfs import FlashFS
from hw.keyfile import read_key
from hw.sim.devices import SimStepper
from hw.usb_serial import LineChannel
from hw.wallclock import WallClock

CONFIG_PATH = "sim.json"
KEY_PATH = "device.key"
WORLD_PATH = "world.json"
WORLD_SAVE_MS = 5_000  # real ms between saves of the reservoir (a kill loses at most this)
RESET_EXIT = 70        # the exit status that means "reset me" to the supervisor
UNIX_EPOCH_TO_2000_S = 946_684_800


class RealTimeClock(WallClock):
    """The wall clock; reading it brings the physics up to now."""

    def __init__(self, board):
        self.board = board
        WallClock.__init__(self, board.rtc, board.ticks)

    def now(self):
        self.board.catch_up()
        return WallClock.now(self)


class RealTimeStepper(SimStepper):
    """Asking what is pending brings the physics up to now first."""

    def __init__(self, board):
        SimStepper.__init__(self, board.time, board.mechanism)
        self.board = board

    def pending(self):
        self.board.catch_up()
        return SimStepper.pending(self)


class RealTimeSimBoard(SimBoard):
    """`speed` simulated ms per real ms; `bench` and `service`: the jumpers
    fitted at boot. Its world (WORLD_PATH) outlives a reset, as a board's
    does: the clock goes on from where it was, never back, whatever the new
    speed, and the reservoir holds what the plunger left in it."""

    def __init__(self, speed=1, seed=1, fill_ml=20, bench=True, service=False):
        self.speed = speed
        self.booted_wall_ms = _wall_ms()
        self.saved_wall_ms = self.booted_wall_ms  # the clock's edge search catches up in SimBoard.__init__
        world = _read_world(WORLD_PATH)
        if world is None:  # first boot: the host's clock
            self.booted_clock_ms = self.booted_wall_ms - UNIX_EPOCH_TO_2000_S * 1000
        else:  # the simulated world went on at its own pace while the board was off
            self.booted_clock_ms = world["clock_ms"] + (self.booted_wall_ms - world["wall_ms"]) * world["speed"]
        day, ms = divmod(self.booted_clock_ms, 86_400_000)
        SimBoard.__init__(self, day, ms, seed, int(fill_ml * 1_000_000), flash=FlashFS("data"),
                          bench_enabled=bench)
        if world is not None:
            self.mechanism.reservoir_steps = world["reservoir_steps"]
        self.save_world()
        self.stepper = RealTimeStepper(self)
        self.stepper.clock, self.stepper.ticks = self.clock, self.ticks
        self.service_mode = service  # the service jumper, as read at boot
        console = ChipConsole(sys.stdin.buffer)
        self.serial = LineChannel(console, sys.stdout.buffer, console, select.POLLIN)
        self._stdin = select.poll()
        self._stdin.register(sys.stdin, select.POLLIN)
        self.device_key = _read_key(KEY_PATH)
        self.wakes = 0  # ends of sleep slices, as the reference board counts them

    def make_clock(self):
        return RealTimeClock(self)

    def pass_time(self, ms):
        """The firmware spends real time (the clock's edge search, a set)."""
        time.sleep_ms(max(1, ms // self.speed))
        self.catch_up()

    def catch_up(self):
        """Apply the pulses due by now to the physics."""
        wall_ms = _wall_ms()
        now = (wall_ms - self.booted_wall_ms) * self.speed
        for _t, forward in self.stepper.due_before(now):
            self.stepper.emit(forward)
        self.time.t_ms = now
        if wall_ms - self.saved_wall_ms >= WORLD_SAVE_MS:
            self.save_world()

    def save_world(self):
        """The clock's anchor (constant for a run) and the reservoir now."""
        self.saved_wall_ms = _wall_ms()
        with open(WORLD_PATH, "w") as f:
            json.dump({"clock_ms": self.booted_clock_ms, "wall_ms": self.booted_wall_ms, "speed": self.speed,
                       "reservoir_steps": self.mechanism.reservoir_steps}, f)

    def sleep_until(self, ms_from_now):
        """Sleep in real time as the reference board does: in slices the
        watchdog allows, fed between them (a board wake-up without a
        controller pass), waking early for a line on stdin. A bench
        `restart` resets here, after its reply went out; a bench `crash`
        raises out of the loop, as a defect would, to main.py's last line
        of defence."""
        if self.reset_requested == "crash":
            raise RuntimeError("bench crash")
        if self.reset_requested:
            self.reset()
        left = ms_from_now
        while left > 0:
            slice_ms = left if left < self.watchdog.max_sleep_ms else self.watchdog.max_sleep_ms
            waiting = self._stdin.poll(max(1, slice_ms // self.speed))
            self.catch_up()
            self.wakes += 1
            self.watchdog.feed()
            if waiting:
                return
            left -= slice_ms

    def selftest(self, alarm_patterns):
        from hw import selftest  # real time passes here, so the real self-test runs
        return selftest.run(self, alarm_patterns)

    def reset(self):
        """The unix port has no reset: save the world and end with RESET_EXIT,
        and tools/simboard.py's supervisor boots main.py again."""
        self.catch_up()
        self.save_world()
        sys.exit(RESET_EXIT)


def _wall_ms():
    return time.time_ns() // 1_000_000


def _read_world(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        return None


def _read_key(path):
    """The device key, or None with no key file (an unprovisioned pump)."""
    try:
        return read_key(path)
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
