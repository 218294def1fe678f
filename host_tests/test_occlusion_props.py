"""Properties of the occlusion detector over random traces, and of the
stuck-sensor rule over a quiet ADC (CPython, hypothesis).

The traces come from LineSim in the shared tests: posture patterns and noise
seeds are drawn here, at any rate from 3 steps/h (12 mcg/day at 2000 mcg/mL)
to 12 732 steps/h (1 mL/h).
"""
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from test_occlusion import (DETECTION_BOUND_NL, MS_PER_H, STEPS_PER_ML, LineSim,
                            run_until, steps_to_nl)

from hw.pressure import PressureSensor
from pump.occlusion import LINE_OCCLUDED, SENSOR_STUCK, STUCK_SAMPLES, WINDOW_STEPS, OcclusionDetector, SensorMonitor

rates = st.one_of(st.sampled_from([3, 4, 10, 30, 120, 530]),
                  st.integers(min_value=3, max_value=STEPS_PER_ML))
# A posture pattern: levels anywhere in the 600 mpsi range above the 200 mpsi
# base, each reached over 10-60 s, 1 s to 8 h apart (the spec says a few a
# day; the detector's bound holds for any pattern within the range).
postures = st.lists(st.tuples(st.integers(min_value=1, max_value=8 * 3600),
                              st.integers(min_value=0, max_value=600),
                              st.integers(min_value=10, max_value=60)),
                    min_size=1, max_size=12)
seeds = st.integers(min_value=0, max_value=2**31)
noises = st.integers(min_value=0, max_value=40)


def span_ms(steps, steps_per_h):
    return steps * MS_PER_H // steps_per_h + 1


@settings(max_examples=60, deadline=None)
@given(rate=rates, posture=postures, seed=seeds, noise=noises)
def test_no_false_alarm_for_any_posture_pattern_and_noise(rate, posture, seed, noise):
    sim = LineSim(seed, rate, noise_mpsi=noise, posture=posture)
    detector = OcclusionDetector(STEPS_PER_ML)
    # Four windows of steps, and at least a full day at the slow rates.
    end_ms = max(span_ms(4 * WINDOW_STEPS, rate), 24 * MS_PER_H)
    end_ms = min(end_ms, 4 * 24 * MS_PER_H)
    assert run_until(sim, detector, end_ms) != LINE_OCCLUDED


@settings(max_examples=60, deadline=None)
@given(rate=rates, posture=postures, seed=seeds, noise=noises,
       onset_steps=st.integers(min_value=0, max_value=3 * WINDOW_STEPS))
def test_alarm_within_5_ul_and_backoff_leaves_under_2_ul(rate, posture, seed, noise, onset_steps):
    sim = LineSim(seed, rate, noise_mpsi=noise, posture=posture)
    detector = OcclusionDetector(STEPS_PER_ML)
    assert run_until(sim, detector, span_ms(onset_steps, rate)) != LINE_OCCLUDED
    sim.occlude()
    onset = sim.steps
    assert run_until(sim, detector, sim.t_ms + span_ms(2 * WINDOW_STEPS, rate)) == LINE_OCCLUDED
    assert steps_to_nl(sim.steps - onset) <= DETECTION_BOUND_NL
    sim.back_off(detector.backoff_steps())
    assert abs(steps_to_nl(sim.trapped_steps)) <= 2000


# ------------------------------------------------------ the stuck-sensor rule

NOISE_FLOOR_LSB = 0.5  # the ADC noise pump.occlusion's stuck rule relies on (its comment)


class QuietAdc:
    """The RP2040 ADC on a quiet, healthy transducer: a true level (in LSB of
    the 12-bit converter) that drifts slowly, Gaussian noise of sigma_lsb
    before the quantisation, and read_u16's scaling of the 12-bit code."""

    def __init__(self, seed, level_lsb, sigma_lsb):
        self.rng = random.Random(seed)
        self.level_lsb = level_lsb
        self.sigma_lsb = sigma_lsb

    def read_u16(self):
        code = min(4095, max(0, round(self.level_lsb + self.rng.gauss(0, self.sigma_lsb))))
        return code << 4 | code >> 8


def readings(adc, count, drift_lsb_per_reading):
    """What the board's driver reads, one reading per wake-up, as the level drifts."""
    sensor = PressureSensor(adc, 6_620, 52_957)
    for _ in range(count):
        yield sensor.read_mpsi()
        adc.level_lsb += drift_lsb_per_reading


@settings(max_examples=25, deadline=None)
@given(seed=seeds, level_lsb=st.floats(min_value=400, max_value=3600),
       drift=st.one_of(st.just(0.0), st.floats(min_value=-0.02, max_value=0.02)))
def test_a_quiet_healthy_sensor_at_the_noise_floor_never_looks_stuck(seed, level_lsb, drift):
    """At the stated floor a reading repeats the one before at most one time
    in three, whatever the level (on a code or between two) or a slow drift
    (up to one LSB in 50 readings), and never STUCK_SAMPLES times in a row."""
    monitor = SensorMonitor()
    repeats, last = 0, None
    for mpsi in readings(QuietAdc(seed, level_lsb, NOISE_FLOOR_LSB), 3000, drift):
        assert monitor.sample(mpsi) != SENSOR_STUCK
        repeats += mpsi == last
        last = mpsi
    assert repeats < 3000 // 3


def test_below_the_noise_floor_a_healthy_sensor_can_look_stuck():
    """What the rule relies on, shown: an ADC ten times quieter than the
    floor, on the middle of a code, reads the same value over and over
    (the board's selftest measures the noise so this is found at bring-up)."""
    monitor = SensorMonitor()
    states = [monitor.sample(mpsi) for mpsi in readings(QuietAdc(1, 1000.0, 0.05), STUCK_SAMPLES, 0.0)]
    assert states[-1] == SENSOR_STUCK
