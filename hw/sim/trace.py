"""What a bench tester's instruments would have recorded during a simulated run.

Sampled at a fixed interval of run time, as a balance, a pressure gauge and
a data logger would: the plunger's true travel (what a balance under the
outlet weighs, once the line is primed), the drug the prescription asked for
and the drug that reached the patient so far, the true reservoir and the
pump's estimate of it with its low threshold, the line pressure as a gauge
reads it (no sensor noise, no sensor fault), and the dose checker's error
against the exact ideal. tools/sim.py --plot and tools/trumpet.py draw them.

All integers, in flat arrays (one per series), so a trace of a few thousand
samples costs the MicroPython heap a few contiguous blocks, not thousands of
small objects.
"""
from array import array

NO_VALUE = -(2**62)  # a sample with nothing to show (the pump was off, the checker paused)

# series name -> unit, in the order they are kept
SERIES = (
    ("t_ms", "ms since the start"),
    ("plunger_steps", "true plunger travel since the start, steps of the true calibration"),
    ("patient_steps", "steps that reached the patient (true calibration)"),
    ("programmed", "drug asked for since the start, ng x ms/h"),
    ("delivered", "drug delivered since the start, ng/uL x steps"),
    ("reservoir_steps", "true reservoir, steps of the true calibration"),
    ("estimated_steps", "the pump's reservoir estimate, steps of its calibration"),
    ("low_steps", "the pump's low-reservoir threshold, steps of its calibration"),
    ("pressure_mpsi", "line pressure, as a gauge reads it: the peak since the last sample"),
    ("error_micro_steps", "ideal minus commanded steps while delivering, millionths of a step"),
)


class Trace:
    def __init__(self, sample_ms):
        self.sample_ms = sample_ms
        self.next_ms = 0
        self.series = [array("q") for _ in SERIES]
        self.peak_mpsi = NO_VALUE

    def peak(self, mpsi):
        """A pressure seen between samples (a blocked line rises with each step)."""
        if mpsi > self.peak_mpsi:
            self.peak_mpsi = mpsi

    def take_peak(self, mpsi_now):
        """The highest pressure since the last sample, now included; starts afresh."""
        peak, self.peak_mpsi = max(self.peak_mpsi, mpsi_now), NO_VALUE
        return peak

    def record(self, values):
        """One sample: the values in SERIES order (NO_VALUE where none)."""
        for column, value in zip(self.series, values):
            column.append(value)
        self.next_ms += self.sample_ms

    def as_lists(self):
        """{name: [int or None]} for the JSON results."""
        out = {"sample_ms": self.sample_ms}
        for (name, _unit), column in zip(SERIES, self.series):
            out[name] = [None if v == NO_VALUE else v for v in column]
        return out
