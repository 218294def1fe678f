"""IEC 60601-2-24 flow accuracy at the three reference rates, beside naive pumps.

    .venv/bin/python bench/trumpet.py [--png DIR]

For each reference rate (bench/common.py) the simulator runs the pump, and
tools/trumpet.py turns the plunger's true travel, sampled every 30 s, into
the mean flow error A over the analysis period and the trumpet curve
(Ep(max), Ep(min) over windows of 2, 5, 11, 19 and 31 min). The same
analysis is applied to naive pumps on the same mechanism and windows, whose
step times are computed here (they share nothing with the pump's code):

- float32 rate x elapsed: every 1 ms tick, the steps due are
  floor(rate x elapsed ms) with both factors and the product in 32-bit
  floats (an RP2040 build's float), and the pump steps until it has done
  that many; shown from the start of the infusion and after 60 days of
  running, where elapsed ms no longer fits a float32's 24-bit mantissa;
- whole-ms step interval: one step every round(3 600 000 / steps per hour)
  ms, the interval of a timer that counts whole ms.

The analysis period is the second hour, as the standard's default; at the
lowest rate (3 steps an hour) a 2 h run holds 6 steps, so the lowest rate is
also analysed over 24 h (60 to 1500 min). With --png DIR, one picture per
rate is written there (start-up and trumpet curves, all pumps overlaid).
"""
import argparse
import os

import numpy

from common import RATES, STEPS_PER_ML, table
from trumpet import SAMPLE_S, WINDOWS_MIN, analyse, plot, simulated_volumes

SAMPLE_MS = SAMPLE_S * 1000
DAY_MS = 86_400_000


def float32_pump(steps_per_h, duration_ms, since_ms=0):
    """Plunger steps at each 30 s sample of a pump that steps up to
    floor(f32(rate) * f32(elapsed)) at every ms, started since_ms ago."""
    rate = numpy.float32(steps_per_h / 3_600_000)
    ticks = numpy.arange(since_ms, since_ms + duration_ms + 1, SAMPLE_MS, dtype=numpy.float64)
    # the count at a sample is the count due at that ms: the due count never falls
    due = numpy.floor(rate * ticks.astype(numpy.float32)).astype(numpy.int64)
    return due - due[0]


def interval_pump(steps_per_h, duration_ms):
    """Plunger steps at each 30 s sample of a pump stepping every whole-ms interval."""
    interval = round(3_600_000 / steps_per_h)
    return [t // interval for t in range(0, duration_ms + 1, SAMPLE_MS)]


def row(label, report):
    cells = [label, "%+.3f" % report["mean_error_pc"]]
    cells += ["%+.2f / %+.2f" % (w["max_pc"], w["min_pc"]) for w in report["trumpet"]]
    return cells


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", metavar="DIR", help="write one start-up and trumpet picture per rate here")
    parser.add_argument("--quick", action="store_true", help="the same run (it is small already)")
    options = parser.parse_args()
    header = ["pump", "A %"] + ["%d min max / min %%" % w for w in WINDOWS_MIN]
    for rate in RATES:
        ml_h = rate.ul_per_h / 1000
        steps_per_h = ml_h * STEPS_PER_ML
        periods = [(60, 120)] + ([(60, 1500)] if steps_per_h < 30 else [])
        hours = max(end for _start, end in periods) / 60
        exact, set_rate = simulated_volumes(rate.scenario(hours), hours)
        assert abs(set_rate - ml_h) < 1e-12, (set_rate, ml_h)
        duration_ms = int(hours * 3_600_000)
        pumps = [("exact stepping (this pump, simulated)", exact),
                 ("naive: float32 rate x elapsed", list(float32_pump(steps_per_h, duration_ms) / STEPS_PER_ML)),
                 ("naive: float32, after 60 days",
                  list(float32_pump(steps_per_h, duration_ms, 60 * DAY_MS) / STEPS_PER_ML)),
                 ("naive: whole-ms step interval", [s / STEPS_PER_ML for s in interval_pump(steps_per_h, duration_ms)])]
        for period in periods:
            reports = [(label, analyse(volumes, ml_h, analysis_min=period)) for label, volumes in pumps]
            table("Flow accuracy, %s: %.4g uL/h = %.2f steps/h; analysis period %d-%d min, samples every %d s"
                  % (rate.label, rate.ul_per_h, steps_per_h, period[0], period[1], SAMPLE_S),
                  header, [row(label, report) for label, report in reports])
            if options.png and period == periods[0]:
                name = "trumpet_%s.png" % rate.label.split()[0]
                plot(reports, os.path.join(options.png, name),
                     "%s (%.4g uL/h), this pump and naive peers" % (rate.label, rate.ul_per_h))
    drift()


def drift(days=30):
    """What the windows of a 2 h test cannot show: the volume error the naive
    pumps build up over a month. (The exact pump stays within one step of
    the ideal at every pulse: bench/dose_accuracy.py, 90 days.)"""
    rows = []
    duration_ms = days * DAY_MS
    for rate in RATES:
        steps_per_h = rate.ul_per_h / 1000 * STEPS_PER_ML
        ideal = steps_per_h * duration_ms / 3_600_000
        f32 = float32_pump(steps_per_h, duration_ms, 0)[-1]
        interval = interval_pump(steps_per_h, duration_ms)[-1]
        rows.append([rate.label, "%.1f" % ideal] + ["%+.1f (%+.2f uL)" % (n - ideal, (n - ideal) * 1000 / STEPS_PER_ML)
                                                      for n in (f32, interval)])
    table("Delivered minus the ideal after %d days of one rate, steps (uL)" % days,
          ["rate", "ideal steps", "naive float32 rate x elapsed", "naive whole-ms interval"], rows)


if __name__ == "__main__":
    main()
