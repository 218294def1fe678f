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
        self.clock = None  # offsets count from this clock's last reading
        self.ticks = None
        self.late_ms = 0  # the latest a pulse was handed over after its due time

    def pulse(self, offsets_ms, count, forward=True):
        """As hw.stepper.Stepper.pulse: offsets from the clock's last
        reading, a pulse already due goes out at once (and counts in
        `late_ms`)."""
        now = self.time.t_ms
        base = self.ticks.run_ms(self.clock.read_ticks) if self.clock is not None else now
        last = self.queue[-1][0] if self.queue else now
        for i in range(count):
            t = base + offsets_ms[i]
            if now - t > self.late_ms:
                self.late_ms = now - t
            if t < last:  # a driver emits in order; never before what is queued or now
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
        """One pulse reaches the driver. A closed end-of-travel switch
        refuses a forward one and halts what is queued, as the board's
        switch interrupt does (hw.stepper.Stepper.halt_toward)."""
        if forward and self.mechanism.end_of_travel():
            self.queue = [pulse for pulse in self.queue if not pulse[1]]
            self.enabled = bool(self.queue)
            return
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


TICKS_PERIOD = 1 << 30  # ticks_ms wraps here on the rp2 port


class SimTicks:
    """MicroPython's ticks_ms and friends on the simulation clock, starting
    at `start` (a board's ticks restart at each boot). A sleep lets time
    pass through `pass_time` (the simulated board's, which the scenario
    runner points at its physics)."""

    def __init__(self, time, pass_time, start=0):
        self.time = time
        self.pass_time = pass_time
        self.offset = start - time.t_ms

    def ticks_ms(self):
        return (self.time.t_ms + self.offset) % TICKS_PERIOD

    @staticmethod
    def ticks_add(ticks, delta):
        return (ticks + delta) % TICKS_PERIOD

    @staticmethod
    def ticks_diff(end, start):
        half = TICKS_PERIOD // 2
        return (end - start + half) % TICKS_PERIOD - half

    def sleep_ms(self, ms):
        self.pass_time(ms)

    def run_ms(self, ticks):
        """The simulation time of a tick count (within half a wrap of now)."""
        return self.time.t_ms + self.ticks_diff(ticks, self.ticks_ms())


class SimDS3231:
    """The battery-backed DS3231 as hw.wallclock sees it (`read`, `day`,
    `second`, `oscillator_stopped`, `write`): whole seconds of the
    simulation's wall time, running `drift_ppm` fast (negative: slow) since
    it was last set, and OSError while `failing` (a clock fault). Its
    second begins wherever the wall time's does, which the pump's clock
    does not know at boot. Writing it sets the wall time, as set_clock on
    the board sets the chip."""

    def __init__(self, time, drift_ppm=0):
        self.time = time
        self.drift_ppm = drift_ppm
        self.failing = False
        self.oscillator_stopped = False
        self.day = self.second = 0
        self._set_at = 0

    def read(self):
        if self.failing:
            raise OSError(5, "EIO")
        t = self.time.t_ms
        since = t - self._set_at
        ppm = self.drift_ppm if self.drift_ppm >= 0 else -self.drift_ppm
        drift_ms = since // 1000 * ppm // 1000 + since % 1000 * ppm // 1_000_000
        if self.drift_ppm < 0:
            drift_ms = -drift_ms
        self.day, ms = self.time.day_ms(t + drift_ms)
        self.second = ms // 1000

    def write(self, day, second_of_day):
        if self.failing:
            raise OSError(5, "EIO")
        t = self.time.t_ms
        self.time.start_day, self.time.start_ms = day, second_of_day * 1000 - t
        self._set_at = t


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
    """The RP2040 watchdog as the board sets it up: a sleep never lasts past
    `max_sleep_ms` without a feed."""

    def __init__(self, max_sleep_ms):
        self.max_sleep_ms = max_sleep_ms
        self.fed = 0

    def feed(self):
        self.fed += 1
