"""Simulated devices with the same interface as the reference board's drivers.

They sit on the physics (hw/sim/physics.py) and on a simulation clock the
runner moves forward; they record what the firmware did to them (pulses
with their times, alarm patterns played) so tests and reports can check it.
"""
from hw.sim.records import Chunked
from pump.occlusion import in_range


class SimTime:
    """The simulation's clock: ms since the scenario start, and its epoch."""

    def __init__(self, start_day, start_ms):
        self.start_day = start_day
        self.start_ms = start_ms
        self.t_ms = 0

    def day_ms(self, t_ms=None):
        """(days since 2000-01-01, ms of day) at run time t_ms (default now)."""
        if t_ms is None:
            t_ms = self.t_ms
        days, ms = divmod(self.start_ms + t_ms, 86_400_000)
        return self.start_day + days, ms

    def run_ms(self, day, ms):
        """Inverse of day_ms."""
        return (day - self.start_day) * 86_400_000 + ms - self.start_ms


class SimStepper:
    """STEP/DIR/EN/DIAG of the TMC2209, driving the simulated lead screw.

    Pulses queued by `pulse` are kept with their absolute run times and
    applied to the mechanism by the runner as simulated time passes.
    """

    def __init__(self, time, mechanism):
        self.time = time
        self.mechanism = mechanism
        self.queue = []  # (t_ms, forward), in time order
        self.emitted = 0  # forward minus reverse pulses that went out
        self.forward_emitted = 0
        self.enabled = False

    def pulse(self, offsets_ms, count, forward=True):
        now = self.time.t_ms
        last = self.queue[-1][0] if self.queue else now
        for i in range(count):
            t = now + offsets_ms[i]
            if t < last:  # a driver emits in order; never before what is queued
                t = last
            self.queue.append((t, forward))
            last = t
        self.enabled = bool(self.queue)
        return count

    def pending(self):
        return len(self.queue)

    def cancel(self):
        dropped = len(self.queue)
        self.queue = []
        self.enabled = False
        return dropped

    def stalled(self):
        seen = self.mechanism.diag
        self.mechanism.diag = False
        return seen

    def due_before(self, t_ms):
        """Pop the pulses due at or before t_ms, in order."""
        queue = self.queue
        n = 0
        while n < len(queue) and queue[n][0] <= t_ms:
            n += 1
        due = queue[:n]
        del queue[:n]
        self.enabled = bool(queue)
        return due

    def emit(self, forward):
        self.emitted += 1 if forward else -1
        self.forward_emitted += 1 if forward else 0
        self.mechanism.step(forward)


class SimPressure:
    def __init__(self, time, mechanism):
        self.time = time
        self.mechanism = mechanism

    def read_mpsi(self):
        return self.mechanism.pressure_mpsi(self.time.t_ms)

    @staticmethod
    def fault_of(mpsi):
        """As the board's driver says it: None for a plausible reading."""
        if in_range(mpsi):
            return None
        return "open circuit" if mpsi < 0 else "out of range"


class SimClock:
    """The battery-backed DS3231: right unless a clock fault is injected."""

    def __init__(self, time):
        self.time = time
        self.ok = True

    def now(self):
        return self.time.day_ms()

    def valid(self):
        return self.ok

    def set(self, day, ms):
        self.time.start_day, self.time.start_ms = day, ms - self.time.t_ms
        self.ok = True


class Recorder:
    """Buzzer or lamps: remembers each pattern played and when.

    Flat: the times in chunked arrays (hw/sim/records.py), each pattern as
    its index among the few distinct ones. A power cut changes the lamps
    and the buzzer twice each, and a (time, pattern) tuple per change, kept
    for the whole run, ended up scattered over the MicroPython heap: after
    500 cuts of a 48 h run its largest free block was 6 KB of 1.6 MB free,
    and the list of those tuples could no longer double (16 KB)."""

    def __init__(self, time):
        self.time = time
        self.times = Chunked("q")  # run ms of each change (a year of run ms passes 2**31)
        self.codes = Chunked("B")  # its pattern: an index in self.patterns
        self.patterns = []  # each distinct pattern, in the order first played
        self.current = None

    def play(self, pattern):
        if pattern != self.current:
            self.current = pattern
            if pattern not in self.patterns:
                self.patterns.append(pattern)
            self.times.append(self.time.t_ms)
            self.codes.append(self.patterns.index(pattern))

    show = play

    def stop(self):
        self.play(None)

    def __len__(self):
        return len(self.times)

    def played(self, i):
        """(run ms, pattern) of the i-th change."""
        return self.times[i], self.patterns[self.codes[i]]

class SimBuzzer(Recorder):
    """The piezo: remembers each pattern handed over and when, and knows from
    them when the tone was really on (a looping alarm burst, or a reminder
    that plays once), as hw/buzzer.py would sound them."""

    def last_sounded_ms(self, now_ms):
        """The latest run ms at or before now_ms at which the tone was on;
        None if it never was."""
        times = self.times
        for i in range(len(times) - 1, -1, -1):
            start, pattern = self.played(i)
            end = times[i + 1] if i + 1 < len(times) else now_ms + 1
            last = _last_on(pattern, start, min(end, now_ms + 1))
            if last is not None:
                return last
        return None


def _last_on(pattern, start, end):
    """The latest ms in [start, end) at which `pattern`, begun at `start`,
    has the tone on: an even count loops, an odd count plays once."""
    if not pattern or end <= start:
        return None
    cycle = sum(pattern)
    base = start
    if len(pattern) % 2 == 0 and end - start > cycle:
        base = start + ((end - 1 - start) // cycle - 1) * cycle  # the cycle before the one holding end - 1
    last = None
    while base < end:
        t = base
        for i in range(len(pattern)):
            if i % 2 == 0 and pattern[i] > 0 and t < end:
                last = min(t + pattern[i], end) - 1
            t += pattern[i]
        if len(pattern) % 2:
            break
        base += cycle
    return last


class SimWatchdog:
    def __init__(self):
        self.fed = 0

    def feed(self):
        self.fed += 1
