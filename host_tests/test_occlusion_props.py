"""Properties of the occlusion detector over random traces (CPython, hypothesis).

The traces come from LineSim in the shared tests: posture patterns and noise
seeds are drawn here, at any rate from 3 steps/h (12 mcg/day at 2000 mcg/mL)
to 12 732 steps/h (1 mL/h).
"""
from hypothesis import given, settings
from hypothesis import strategies as st
from test_occlusion import (DETECTION_BOUND_NL, MS_PER_H, STEPS_PER_ML, LineSim,
                            run_until, steps_to_nl)

from pump.occlusion import LINE_OCCLUDED, WINDOW_STEPS, OcclusionDetector

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
