"""Occlusion detection from line pressure, and pressure-sensor fault detection.

Readings are int milli-psi (mpsi), one per controller wake-up while
delivering, each with the cumulative motor steps commanded so far.

What the detector has to tell apart (figures of the reference catheter):
- an occluded line: the pushed volume has nowhere to go, so pressure rises
  by 1/compliance per nL, 1 mpsi/nL = about 78 mpsi per step, and stays there;
- posture: CSF pressure (about 200 mpsi) moves by up to about 600 mpsi a few
  times a day, over 10-60 s, whatever the pump does;
- noise, sigma about 30 mpsi per reading. An open line loses < 1 mpsi to flow.

Why the rise is measured against steps pushed, not against time: the
occlusion signature is a pressure per volume (the catheter's compliance) and
the same at every rate, while its speed in time spans four decades. At
12 mcg/day of 2000 mcg/mL (about 3 steps/h) an occluded line rises by about
0.07 mpsi/s, hundreds of times slower than a posture shift; at 1 mL/h it
rises by about 280 mpsi/s, faster than one. No rate-of-rise in time can
separate both ends, and a time-constant baseline tracker would simply follow a
slow occlusion up. Against volume, a posture shift brings no steps with it.

How: the readings taken between two step counts form a *segment* (about 20
readings at 3 steps/h, one at 1 mL/h) and the mean of a segment is its
*level*; averaging takes the noise down where the rise per reading is
smallest. The change of level across each step boundary is attributed to the
steps pushed across it. The *excess* is the sum of those changes over the
last WINDOW_STEPS steps; it telescopes to the current level minus the level
one window of volume back, which is the *baseline*: it tracks posture, one
window of volume behind, and a rise that the steps produced stays in the
excess until the steps have moved on by a whole window. Whatever posture does
within its range, it puts at most that range (600 mpsi) into the excess, at
every rate: a bound, not a probability. Noise adds the difference of two
levels (sigma at most 42 mpsi, for one-reading segments).
A blocked line also rises at every boundary, posture at one or two per shift:
the *rising steps* are the steps of the window across which the level rose
by at least half the occluded rise. An occlusion is declared when the excess
is at or above OCCLUSION_EXCESS_MPSI with at least RISING_STEPS_MIN rising
steps, for DEBOUNCE_SAMPLES readings in a row. The rising steps are what stops
a posture shift beyond the spec (a cough, straining) from passing for an
occlusion at the slow rates, where one shift falls within a boundary or two.

Bounds, with the nominal 12 732 steps/mL and 1 mpsi/nL:
- detection after OCCLUSION_EXCESS_MPSI nL = 2.0 uL of blocked push (26
  steps), plus what a simultaneous posture drop takes away (at most 600 mpsi,
  8 steps), plus the crossing falling inside a wake-up (up to 7 steps) and the
  debounce (2 more wake-ups, up to 16 steps): 57 steps, 4.5 uL, at worst,
  under the 5 uL goal (measured: 1.5-2.5 uL at 3 steps/h, 2-3.7 uL at
  530 and 12 732 steps/h).
- no false alarm: posture's 600 mpsi plus noise is a third of the threshold.
- backoff: retracting backoff_steps() brings the trapped pressure back to
  the baseline seen at detection, so at most the baseline error (the posture
  change over the window, 600 mpsi: 0.6 uL) is released as a bolus when the
  line clears, or drawn back when negative.

Readings outside the transducer's range are not pressures: the detector
skips them and the SensorMonitor reports them. Integer-only; `sample` touches
preallocated state only, so it allocates nothing, and every stored integer
stays below 2**30.
"""
from pump.compat import const

# Detector states, returned by OcclusionDetector.sample().
LINE_OPEN = const(0)
LINE_SUSPECT = const(1)      # over the threshold, not yet for DEBOUNCE_SAMPLES
LINE_OCCLUDED = const(2)     # latched until reset()
LINE_STATE_NAMES = ("open", "suspect", "occluded")

OCCLUSION_EXCESS_MPSI = const(2000)
RISING_STEPS_MIN = const(16)         # of the 26 an alarm takes: 1.3 uL of steady rise
DEBOUNCE_SAMPLES = const(3)
WINDOW_STEPS = const(64)             # 5 uL: holds the whole rise up to the alarm
SEGMENT_MAX_SAMPLES = const(64)      # then the level becomes a running mean
AT_BASELINE_MARGIN_MPSI = const(800)  # 10 steps of trapped volume, < the threshold

# The transducer: 0.5-4.5 V for 0-30 psi. An open circuit reads about
# -3750 mpsi, a short to supply far above 30 000 mpsi. CSF never reads below
# -1000 mpsi even with posture, and a line can legitimately reach full scale.
PRESSURE_MIN_MPSI = const(-1000)
PRESSURE_MAX_MPSI = const(31000)
OPEN_CIRCUIT_BELOW_MPSI = const(-2000)

DEFAULT_MPSI_PER_UL = const(1000)    # compliance 1 uL/psi


def in_range(pressure_mpsi):
    """A reading the transducer can produce for a real line pressure."""
    return PRESSURE_MIN_MPSI <= pressure_mpsi <= PRESSURE_MAX_MPSI


class OcclusionDetector:
    """Occlusion from pressure against steps pushed (see the module doc)."""

    def __init__(self, steps_per_ml, mpsi_per_ul=DEFAULT_MPSI_PER_UL):
        # Pressure rise of an occluded line per step, in mpsi x 1000
        # (78 542 for the nominal mechanism and catheter).
        self.rise_per_step_x1000 = mpsi_per_ul * 1_000_000 // steps_per_ml
        self._window_ds = [0] * WINDOW_STEPS       # steps across each boundary
        self._window_change = [0] * WINDOW_STEPS   # change of level, mpsi
        self._window_rising = [0] * WINDOW_STEPS   # its steps if it was a rise, else 0
        self.reset()

    def reset(self):
        """Forget everything: a fresh start after the controller resumes."""
        self.state = LINE_OPEN
        self.level_mpsi = 0          # the current segment's mean
        self.excess_mpsi = 0         # rise attributed to the steps of the window
        self.rising_steps = 0
        self._occluded_baseline_mpsi = 0
        self._over_count = 0
        self._seg_steps = 0
        self._seg_sum = 0
        self._seg_count = 0          # readings in the current segment; 0: none yet
        self._restart_window()

    def _restart_window(self):
        self._head = 0               # index of the oldest boundary
        self._count = 0              # boundaries in the window
        self._window_steps = 0
        self._window_excess = 0
        self._window_rising_steps = 0
        self._pending_ds = 0         # steps into the current segment; 0: the first
        self._prev_level = 0         # level of the segment before it

    def sample(self, pressure_mpsi, steps_total):
        """One reading with the cumulative steps commanded. Returns the state."""
        if pressure_mpsi < PRESSURE_MIN_MPSI or pressure_mpsi > PRESSURE_MAX_MPSI:
            return self.state
        if self._seg_count == 0 or steps_total < self._seg_steps:
            # First reading, or the steps went back (a backoff): re-reference.
            self._restart_window()
            self._start_segment(pressure_mpsi, steps_total)
        elif steps_total > self._seg_steps:
            level = self._seg_sum // self._seg_count
            if self._pending_ds:
                self._push(self._pending_ds, level - self._prev_level)
            self._prev_level = level
            self._pending_ds = steps_total - self._seg_steps
            self._start_segment(pressure_mpsi, steps_total)
        elif self._seg_count < SEGMENT_MAX_SAMPLES:
            self._seg_sum += pressure_mpsi
            self._seg_count += 1
        else:
            self._seg_sum += pressure_mpsi - self._seg_sum // SEGMENT_MAX_SAMPLES
        level = self._seg_sum // self._seg_count
        excess = self._window_excess
        rising = self._window_rising_steps
        if self._pending_ds:
            change = level - self._prev_level
            excess += change
            rising += self._rising(self._pending_ds, change)
        self.level_mpsi = level
        self.excess_mpsi = excess
        self.rising_steps = rising
        if self.state != LINE_OCCLUDED:
            self._judge(level, excess, rising)
        return self.state

    def _start_segment(self, pressure_mpsi, steps_total):
        self._seg_steps = steps_total
        self._seg_sum = pressure_mpsi
        self._seg_count = 1

    def _rising(self, ds, change_mpsi):
        """`ds` if the change is at least half the occluded rise over ds steps."""
        if ds > WINDOW_STEPS:
            ds = WINDOW_STEPS
        return ds if change_mpsi * 2000 >= self.rise_per_step_x1000 * ds else 0

    def _judge(self, level, excess, rising):
        if excess < OCCLUSION_EXCESS_MPSI or rising < RISING_STEPS_MIN:
            self._over_count = 0
            self.state = LINE_OPEN
            return
        self._over_count += 1
        if self._over_count < DEBOUNCE_SAMPLES:
            self.state = LINE_SUSPECT
        else:
            self.state = LINE_OCCLUDED
            self._occluded_baseline_mpsi = level - excess

    def _push(self, ds, change_mpsi):
        """Adds a finished boundary; drops the oldest beyond WINDOW_STEPS.
        Every boundary carries at least one step, so the ring never holds more
        than WINDOW_STEPS of them; one carrying more is kept alone."""
        while self._count and self._window_steps + ds > WINDOW_STEPS:
            oldest = self._head
            self._window_steps -= self._window_ds[oldest]
            self._window_excess -= self._window_change[oldest]
            self._window_rising_steps -= self._window_rising[oldest]
            self._head = (oldest + 1) % WINDOW_STEPS
            self._count -= 1
        slot = (self._head + self._count) % WINDOW_STEPS
        rising = self._rising(ds, change_mpsi)
        self._window_ds[slot] = ds
        self._window_change[slot] = change_mpsi
        self._window_rising[slot] = rising
        self._window_steps += ds
        self._window_excess += change_mpsi
        self._window_rising_steps += rising
        self._count += 1

    def baseline_mpsi(self):
        """Line pressure without the occlusion: frozen at detection once occluded."""
        if self.state == LINE_OCCLUDED:
            return self._occluded_baseline_mpsi
        return self.level_mpsi - self.excess_mpsi

    def backoff_steps(self):
        """Steps to retract so the trapped pressure falls back to the baseline,
        rounded to the nearest step. Retracting them before the line clears
        keeps the trapped volume from reaching the patient as a bolus."""
        trapped_mpsi = self.level_mpsi - self.baseline_mpsi()
        if trapped_mpsi <= 0:
            return 0
        rise = self.rise_per_step_x1000
        return (trapped_mpsi * 1000 + rise // 2) // rise

    def at_baseline(self, pressure_mpsi):
        """True when a reading is within AT_BASELINE_MARGIN_MPSI of the
        baseline: the line holds no more than about 10 steps of trapped
        volume, so delivery may resume. After a backoff this is true whether
        or not the blockage is still there; a blockage that remains shows
        again within the detection bound once delivery resumes."""
        return (in_range(pressure_mpsi)
                and pressure_mpsi - self.baseline_mpsi() <= AT_BASELINE_MARGIN_MPSI)


# Pressure-sensor faults, returned by SensorMonitor.sample().
SENSOR_OK = const(0)
SENSOR_OPEN = const(1)
SENSOR_OUT_OF_RANGE = const(2)
SENSOR_STUCK = const(3)
SENSOR_FAULT_NAMES = ("ok", "open", "out_of_range", "stuck")

INVALID_DEBOUNCE_SAMPLES = const(3)
# A stuck sensor (a converter or transducer output frozen, a driver handing
# back a cached value) repeats its reading exactly; a healthy one varies with
# its noise, and that noise is what the rule relies on: at least 0.5 LSB rms
# from the ADC itself on the pressure channel (the RP2040's is 1-3 LSB;
# hw/pressure.py, and the board's selftest measures it). A board reading is
# the mean of 16 samples and resolves 1.13 mpsi; at that noise floor two
# readings in a row are equal with probability at most 1/3 (0.2-0.3 whatever
# the level or a slow drift: host_tests/test_occlusion_props.py). 24 equal
# readings in a row then come by chance with probability (1/3)**23 = 1e-11
# per reading, about 1e-3 over ten years at 1 mL/h (1.4e7 readings a year).
# The simulator's sensor (sigma 30 mpsi, 1 mpsi steps) repeats with
# probability 0.01. The cost is 24 wake-ups blind to a stuck sensor: 24
# minutes at the slowest rate, against hours for its occlusion bound.
STUCK_SAMPLES = const(24)


class SensorMonitor:
    """The pressure sensor's own health. `sample` reports the condition as of
    this reading: a fault is present until a reading that contradicts it (the
    alarm manager latches the alarm). A sensor back in range after an open
    or out-of-range fault is trusted only once its reading moves: one that
    came back stuck would otherwise pass as healthy for STUCK_SAMPLES
    readings while the pump pushed into a line it cannot watch."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.fault = SENSOR_OK
        self._invalid_run = 0
        self._last_mpsi = 0
        self._same_run = 0

    def carry_fault(self):
        """A sensor fault was present when the pump reset: the run of equal
        readings carries on from the first one after the boot, so a stuck
        sensor stays flagged until its reading moves (else a reboot would
        leave the pump blind to a blocked line for STUCK_SAMPLES readings)."""
        self._same_run = -1

    def sample(self, pressure_mpsi):
        was_invalid = self.fault == SENSOR_OPEN or self.fault == SENSOR_OUT_OF_RANGE
        if in_range(pressure_mpsi):
            self._invalid_run = 0
        elif self._invalid_run < INVALID_DEBOUNCE_SAMPLES:
            self._invalid_run += 1
        if self._same_run < 0:
            self._last_mpsi, self._same_run = pressure_mpsi, STUCK_SAMPLES
        elif pressure_mpsi == self._last_mpsi and self._same_run:
            if self._same_run < STUCK_SAMPLES:
                self._same_run += 1
        else:
            self._last_mpsi = pressure_mpsi
            self._same_run = STUCK_SAMPLES if was_invalid else 1
        if self._invalid_run >= INVALID_DEBOUNCE_SAMPLES:
            below = pressure_mpsi < OPEN_CIRCUIT_BELOW_MPSI
            self.fault = SENSOR_OPEN if below else SENSOR_OUT_OF_RANGE
        elif self._same_run >= STUCK_SAMPLES:
            self.fault = SENSOR_STUCK
        else:
            self.fault = SENSOR_OK
        return self.fault
