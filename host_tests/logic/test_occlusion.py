"""Occlusion detector and pressure-sensor monitor, against synthetic traces.

LineSim below generates, written out independently here, what the simulated
board (hw/sim/physics.py) feeds the detector: CSF baseline 200 mpsi moved by
posture shifts of up to 600 mpsi over 10-60 s, noise sigma 30 mpsi, and,
when occluded, 1 mpsi per nL pushed. Wake-ups come
every 1-8 steps or at least once a minute. Everything is integer and seeded,
so a trace is the same on CPython and MicroPython.
"""
from hw.sim.rng import XorShift32
from pump.occlusion import (AT_BASELINE_MARGIN_MPSI, LINE_OCCLUDED, LINE_OPEN,
                            LINE_SUSPECT, OCCLUSION_EXCESS_MPSI, SENSOR_OK, SENSOR_OPEN,
                            SENSOR_OUT_OF_RANGE, SENSOR_STUCK, STUCK_SAMPLES,
                            OcclusionDetector, SensorMonitor)

STEPS_PER_ML = 12_732
NL_PER_UL = 1000
MS_PER_H = 3_600_000
# The three reference rates: 12 mcg/day at 2000 mcg/mL, a typical 500 mcg/day
# at 500 mcg/mL (about 530 steps/h), and the 1 mL/h ceiling.
SLOWEST_STEPS_PER_H = 3
TYPICAL_STEPS_PER_H = 530
FASTEST_STEPS_PER_H = STEPS_PER_ML
DETECTION_BOUND_NL = 5000


def steps_to_nl(steps):
    return steps * 1_000_000 // STEPS_PER_ML


class Prng(XorShift32):
    """The simulator's seeded PRNG, with a noise whose tails are cut (the
    detector's bounds are stated for a noise of known extent)."""

    def noise(self, sigma):
        """Near-Gaussian (sum of four uniforms, cut at 3.5 sigma), integer."""
        a = self.next_u32()
        b = self.next_u32()
        total = (a & 0xFFFF) + (a >> 16) + (b & 0xFFFF) + (b >> 16) - 131_070
        return total * sigma // 37_837


class LineSim:
    """Pump, catheter and CSF as hw/sim/physics.py models them.

    Posture: every `shift_every_s` on average (drawn between half and one and
    a half times that) the CSF pressure ramps over 10-60 s to a new level
    drawn in [base, base + shift_max_mpsi], so no shift exceeds
    shift_max_mpsi. A few times a day is the real figure; tests use far more
    to pack 90 days' worth of shifts into a short trace. `posture`, if given,
    replaces the draws: (after_s, level_mpsi, ramp_s) shifts, repeated.
    """

    def __init__(self, seed, steps_per_h, shift_every_s=6 * 3600, shift_max_mpsi=600,
                 noise_mpsi=30, base_mpsi=200, max_steps_per_wake=8, posture=None):
        self.posture = posture
        self.posture_index = 0
        self.prng = Prng(seed)
        self.steps_per_h = steps_per_h
        self.shift_every_ms = shift_every_s * 1000
        self.shift_max_mpsi = shift_max_mpsi
        self.noise_mpsi = noise_mpsi
        self.base_mpsi = base_mpsi
        self.max_steps_per_wake = max_steps_per_wake
        self.t_ms = 0
        self.steps = 0
        self.trapped_steps = 0
        self.occluded = False
        self.ramp_from = self.ramp_to = 0
        self.ramp_start_ms = self.ramp_end_ms = 0
        self.next_shift_ms, self.next_level, self.next_ramp_ms = self._next_shift()

    def _next_shift(self):
        """(ms until the shift after the current one, its level, its ramp ms)."""
        if self.posture:
            after_s, level, ramp_s = self.posture[self.posture_index % len(self.posture)]
            self.posture_index += 1
            return after_s * 1000, level, ramp_s * 1000
        return (self.prng.between(self.shift_every_ms // 2, self.shift_every_ms * 3 // 2),
                self.prng.between(0, self.shift_max_mpsi), self.prng.between(10_000, 60_000))

    def posture_mpsi(self):
        t = self.t_ms
        if t >= self.ramp_end_ms:
            return self.ramp_to
        if t <= self.ramp_start_ms:
            return self.ramp_from
        span = self.ramp_end_ms - self.ramp_start_ms
        return self.ramp_from + (self.ramp_to - self.ramp_from) * (t - self.ramp_start_ms) // span

    def baseline_mpsi(self):
        return self.base_mpsi + self.posture_mpsi()

    def trapped_mpsi(self):
        # 1 mpsi per nL pushed into the blocked line (compliance 1 uL/psi).
        return steps_to_nl(self.trapped_steps)

    def pressure_mpsi(self):
        return self.baseline_mpsi() + self.trapped_mpsi() + self.prng.noise(self.noise_mpsi)

    def _steps_due(self, t_ms):
        return t_ms * self.steps_per_h // MS_PER_H

    def _step_time_ms(self, steps):
        return (steps * MS_PER_H + self.steps_per_h - 1) // self.steps_per_h

    def wake(self):
        """Advance to the next controller wake-up; returns (pressure, steps)."""
        n = self.prng.between(1, self.max_steps_per_wake)
        t = min(self.t_ms + 60_000, self._step_time_ms(self.steps + n))
        while self.next_shift_ms <= t:
            self.t_ms = self.next_shift_ms
            self.ramp_from = self.posture_mpsi()
            self.ramp_to = self.next_level
            self.ramp_start_ms = self.next_shift_ms
            self.ramp_end_ms = self.ramp_start_ms + self.next_ramp_ms
            after_ms, self.next_level, self.next_ramp_ms = self._next_shift()
            self.next_shift_ms += after_ms
        self.t_ms = t
        steps = self._steps_due(t)
        if self.occluded:
            self.trapped_steps += steps - self.steps
        self.steps = steps
        return self.pressure_mpsi(), steps

    def back_off(self, steps):
        self.steps -= steps
        if self.occluded:
            self.trapped_steps -= steps

    def occlude(self):
        self.occluded = True

    def clear_occlusion(self):
        # The trapped volume escapes to the patient within seconds.
        self.occluded = False
        self.trapped_steps = 0


def run_until(sim, detector, end_ms):
    """Feeds wake-ups until `end_ms` or an alarm; returns the final state."""
    state = LINE_OPEN
    while sim.t_ms < end_ms and state != LINE_OCCLUDED:
        pressure, steps = sim.wake()
        state = detector.sample(pressure, steps)
    return state


def max_excess_without_occlusion(seed, steps_per_h, hours, shift_every_s):
    sim = LineSim(seed, steps_per_h, shift_every_s=shift_every_s)
    detector = OcclusionDetector(STEPS_PER_ML)
    worst = 0
    while sim.t_ms < hours * MS_PER_H:
        pressure, steps = sim.wake()
        assert detector.sample(pressure, steps) != LINE_OCCLUDED, (seed, steps_per_h, sim.t_ms)
        worst = max(worst, detector.excess_mpsi)
    return worst


def detection_volume_nl(seed, steps_per_h, onset_h=2):
    """Occlude after `onset_h` of normal delivery; nL pushed until the alarm."""
    sim = LineSim(seed, steps_per_h, shift_every_s=3600)
    detector = OcclusionDetector(STEPS_PER_ML)
    assert run_until(sim, detector, onset_h * MS_PER_H) != LINE_OCCLUDED
    sim.occlude()
    onset_steps = sim.steps
    limit_ms = sim.t_ms + 40 * MS_PER_H * 1000 // steps_per_h  # 40 000 steps' time, ample
    assert run_until(sim, detector, limit_ms) == LINE_OCCLUDED
    return steps_to_nl(sim.steps - onset_steps), sim, detector


# --- no false alarm -------------------------------------------------------
# The excess telescopes to a difference of two levels, so posture within its
# 600 mpsi range plus noise keeps it under half the threshold at any rate.

def test_90_days_of_posture_shifts_raise_no_alarm_at_the_slowest_rate():
    worst = max_excess_without_occlusion(1, SLOWEST_STEPS_PER_H, 90 * 24, 6 * 3600)
    assert worst < OCCLUSION_EXCESS_MPSI // 2, worst


def test_frequent_posture_shifts_raise_no_alarm_at_the_slowest_rate():
    # 20 days with a shift every 40 min on average: 700 shifts, twice what
    # 90 days of "a few a day" bring, several between two steps.
    worst = max_excess_without_occlusion(5, SLOWEST_STEPS_PER_H, 20 * 24, 2400)
    assert worst < OCCLUSION_EXCESS_MPSI // 2, worst


def test_posture_shifts_raise_no_alarm_at_a_typical_rate():
    worst = max_excess_without_occlusion(2, TYPICAL_STEPS_PER_H, 5 * 24, 600)
    assert worst < OCCLUSION_EXCESS_MPSI // 2, worst


def test_posture_shifts_raise_no_alarm_at_the_fastest_rate():
    worst = max_excess_without_occlusion(3, FASTEST_STEPS_PER_H, 6, 60)
    assert worst < OCCLUSION_EXCESS_MPSI // 2, worst


def test_a_single_jump_over_the_threshold_is_not_an_occlusion():
    # A blocked line rises at every step; this rose across one boundary.
    detector = OcclusionDetector(STEPS_PER_ML)
    for steps in range(0, 40):
        detector.sample(200, steps)
    for steps in range(40, 60):
        assert detector.sample(2600, steps) == LINE_OPEN
    assert detector.excess_mpsi == 2400 and detector.rising_steps == 1


def test_shifts_four_times_the_spec_at_the_slowest_rate_raise_no_alarm():
    # 2400 mpsi (a cough, straining): at 3 steps/h a shift spans a boundary
    # or two, never the 16 rising steps an occlusion brings.
    sim = LineSim(4, SLOWEST_STEPS_PER_H, shift_every_s=3 * 3600, shift_max_mpsi=2400)
    detector = OcclusionDetector(STEPS_PER_ML)
    assert run_until(sim, detector, 10 * 24 * MS_PER_H) != LINE_OCCLUDED


# --- detection within 5 uL --------------------------------------------------

def test_occlusion_alarms_within_5_ul_at_the_slowest_rate():
    for seed in (1, 2, 3):
        volume_nl = detection_volume_nl(seed, SLOWEST_STEPS_PER_H, onset_h=30)[0]
        assert volume_nl <= DETECTION_BOUND_NL, (seed, volume_nl)


def test_occlusion_alarms_within_5_ul_at_a_typical_rate():
    for seed in (4, 5, 6):
        volume_nl = detection_volume_nl(seed, TYPICAL_STEPS_PER_H)[0]
        assert volume_nl <= DETECTION_BOUND_NL, (seed, volume_nl)


def test_occlusion_alarms_within_5_ul_at_the_fastest_rate():
    for seed in (7, 8, 9):
        volume_nl = detection_volume_nl(seed, FASTEST_STEPS_PER_H)[0]
        assert volume_nl <= DETECTION_BOUND_NL, (seed, volume_nl)


def test_detection_volume_is_the_same_whatever_the_time_between_steps():
    # The signature is pressure per volume: 3 steps/h and 1 mL/h differ by
    # a factor of 4000 in time, not in volume.
    # (Means over seeds: at 1 mL/h a wake-up carries 8 steps, so the debounce
    # costs more volume there; the difference stays a fraction of a uL.)
    seeds = range(1, 9)
    slow_nl = sum(detection_volume_nl(seed, SLOWEST_STEPS_PER_H, onset_h=30)[0] for seed in seeds) // len(seeds)
    fast_nl = sum(detection_volume_nl(seed, FASTEST_STEPS_PER_H)[0] for seed in seeds) // len(seeds)
    assert abs(slow_nl - fast_nl) <= 1500, (slow_nl, fast_nl)


def test_one_reading_over_the_threshold_is_only_suspect():
    detector = OcclusionDetector(STEPS_PER_ML)
    for steps in range(0, 64, 8):
        detector.sample(200, steps)
    # 2400 mpsi over the 40 steps of one wake-up looks like a blockage:
    # suspect, no alarm yet; the next reading shows it was a glitch.
    assert detector.sample(2600, 96) == LINE_SUSPECT
    assert detector.sample(200, 104) == LINE_OPEN


def test_occluded_state_latches_until_reset():
    _nl, sim, detector = detection_volume_nl(11, TYPICAL_STEPS_PER_H)
    sim.clear_occlusion()
    pressure, steps = sim.wake()
    assert detector.sample(pressure, steps) == LINE_OCCLUDED
    detector.reset()
    assert detector.sample(pressure, steps) == LINE_OPEN


def test_readings_outside_the_transducer_range_are_not_pressures():
    detector = OcclusionDetector(STEPS_PER_ML)
    detector.sample(200, 0)
    for steps in range(1, 50):
        assert detector.sample(36_000, steps) == LINE_OPEN
    assert detector.excess_mpsi == 0


# --- backoff and resume ----------------------------------------------------

def test_backoff_returns_the_trapped_pressure_to_baseline_within_2_ul():
    cases = ((12, SLOWEST_STEPS_PER_H), (13, TYPICAL_STEPS_PER_H), (14, FASTEST_STEPS_PER_H))
    for seed, rate in cases:
        _nl, sim, detector = detection_volume_nl(seed, rate, onset_h=30 if rate < 100 else 2)
        sim.back_off(detector.backoff_steps())
        # What the line releases when the blockage clears (or draws back, if
        # negative): the volume still trapped above the patient's pressure.
        released_nl = steps_to_nl(sim.trapped_steps)
        assert abs(released_nl) <= 2000, (seed, rate, released_nl)


def test_backoff_steps_match_the_trapped_volume():
    detector = OcclusionDetector(STEPS_PER_ML)
    for steps in range(0, 40, 4):
        detector.sample(200, steps)
    for steps in range(40, 80, 4):  # occluded from step 40: 78.5 mpsi per step
        detector.sample(200 + steps_to_nl(steps - 40), steps)
    assert detector.state == LINE_OCCLUDED
    assert 34 <= detector.backoff_steps() <= 38  # 36 steps were pushed blocked


def test_at_baseline_only_once_the_trapped_pressure_is_gone():
    _nl, sim, detector = detection_volume_nl(15, TYPICAL_STEPS_PER_H)
    assert not detector.at_baseline(sim.pressure_mpsi())
    sim.clear_occlusion()
    assert detector.at_baseline(sim.pressure_mpsi())


def test_at_baseline_after_a_backoff_even_if_still_blocked():
    _nl, sim, detector = detection_volume_nl(16, TYPICAL_STEPS_PER_H)
    sim.back_off(detector.backoff_steps())
    assert detector.at_baseline(sim.pressure_mpsi())


def test_at_baseline_margin_is_below_the_alarm_threshold():
    detector = OcclusionDetector(STEPS_PER_ML)
    detector.sample(200, 0)
    assert detector.at_baseline(200 + AT_BASELINE_MARGIN_MPSI)
    assert not detector.at_baseline(200 + AT_BASELINE_MARGIN_MPSI + 1)


def test_a_blockage_still_there_after_resume_alarms_again_within_5_ul():
    _nl, sim, detector = detection_volume_nl(17, TYPICAL_STEPS_PER_H)
    sim.back_off(detector.backoff_steps())
    detector.reset()
    resume_steps = sim.steps
    assert run_until(sim, detector, sim.t_ms + 3 * MS_PER_H) == LINE_OCCLUDED
    assert steps_to_nl(sim.steps - resume_steps) <= DETECTION_BOUND_NL


# --- the sample path -------------------------------------------------------

def _int_attributes(obj):
    values = []
    for name in dir(obj):
        value = getattr(obj, name)
        if isinstance(value, int):
            values.append(value)
        elif isinstance(value, list):
            values.extend(value)
    return values


def test_sample_path_allocates_nothing_and_keeps_ints_below_2_30():
    detector = OcclusionDetector(STEPS_PER_ML)
    monitor = SensorMonitor()
    readings = [(200 + (i * 37) % 90, i * 3) for i in range(300)]
    readings += [(200 + steps_to_nl(i * 3), 900 + i * 3) for i in range(300)]
    readings += [(-3750, 1800)] * 5
    try:
        import micropython
        lock, unlock = micropython.heap_lock, micropython.heap_unlock
    except (ImportError, AttributeError):  # CPython: no heap to lock
        lock = unlock = None
    if lock:
        lock()
    try:
        for pressure, steps in readings:
            monitor.sample(pressure)
            detector.sample(pressure, steps)
    finally:
        if unlock:
            unlock()
    assert detector.state == LINE_OCCLUDED
    assert monitor.fault == SENSOR_OPEN
    for value in _int_attributes(detector) + _int_attributes(monitor):
        assert -(1 << 30) < value < (1 << 30), value


# --- sensor faults ---------------------------------------------------------

def feed(monitor, readings):
    result = SENSOR_OK
    for pressure in readings:
        result = monitor.sample(pressure)
    return result


def test_open_circuit_reported_after_three_readings():
    monitor = SensorMonitor()
    assert feed(monitor, [-3750, -3751]) == SENSOR_OK
    assert monitor.sample(-3749) == SENSOR_OPEN


def test_short_to_supply_reported_out_of_range():
    monitor = SensorMonitor()
    assert feed(monitor, [37_400, 37_500, 37_450]) == SENSOR_OUT_OF_RANGE


def test_single_out_of_range_glitch_is_not_a_fault():
    monitor = SensorMonitor()
    assert feed(monitor, [200, -3750, 210, 37_000, 190, 205]) == SENSOR_OK


def test_a_sensor_back_from_open_is_trusted_only_once_its_reading_moves():
    monitor = SensorMonitor()
    assert feed(monitor, [-3750] * 3) == SENSOR_OPEN
    assert monitor.sample(200) == SENSOR_STUCK  # back in range, not yet shown alive
    assert feed(monitor, [200] * 30) == SENSOR_STUCK  # came back stuck: the fault never lifts
    assert monitor.sample(203) == SENSOR_OK


def test_stuck_sensor_reported_after_stuck_samples_identical_readings():
    monitor = SensorMonitor()
    assert feed(monitor, [250] * (STUCK_SAMPLES - 1)) == SENSOR_OK
    assert monitor.sample(250) == SENSOR_STUCK


def test_a_quiet_sensor_that_repeats_each_reading_up_to_23_times_is_not_stuck():
    """A healthy but quiet transducer, drifting one resolution step at a
    time and sitting on each value for up to 23 readings, is not stuck."""
    monitor = SensorMonitor()
    for step in range(40):
        for _ in range(STUCK_SAMPLES - 1 - step % 5):
            assert monitor.sample(250 + step) == SENSOR_OK


def test_noisy_readings_never_look_stuck():
    prng = Prng(5)
    monitor = SensorMonitor()
    for _ in range(20_000):
        assert monitor.sample(200 + prng.noise(30)) == SENSOR_OK


