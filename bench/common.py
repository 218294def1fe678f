"""What the benchmark scripts share: the project on sys.path, the three
reference rates, scenario building, the MicroPython driver call and tables.

Every benchmark runs the real pump logic on the simulated board, so the
rates below go through the pump's own programming path (patient, refill,
settings, prescription over the protocol) and must be ones it accepts.
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(BENCH), "tools"))

import mpenv  # noqa: E402

mpenv.add_to_sys_path()

import simcase  # noqa: E402
from hw.sim.board import SimBoard  # noqa: E402

ROOT = mpenv.ROOT
# `--quick` (bench/run_all.py --quick, which the test suite runs): each script
# at a small size, to show that it still runs to the end. Its figures are not
# the ones docs/BENCHMARKS.md records.
QUICK = "--quick" in sys.argv[1:]


def full_or_quick(full, quick):
    return quick if QUICK else full
STEPS_PER_ML = SimBoard(0, 0).calibration["steps_per_ml"]  # the reference mechanism, as simulated


class Rate:
    """A continuous infusion the pump accepts: mcg/h of a concentration."""

    def __init__(self, label, mcg_per_h, mcg_per_ml, fill_ml, override=None):
        self.label = label
        self.mcg_per_h = mcg_per_h
        self.mcg_per_ml = mcg_per_ml
        self.fill_ml = fill_ml
        self.override = override

    @property
    def ul_per_h(self):
        return self.mcg_per_h * 1000 / self.mcg_per_ml

    def scenario(self, hours, events=(), seed=1):
        """A normalised scenario (tools/scenario.py's output) of this rate.
        The low-reservoir warning is set to the shortest the drug library
        takes (3 days), so that it stays quiet where the fill allows it."""
        return simcase.scenario(hours, steps=(("00:00", self.mcg_per_h),), concentration=self.mcg_per_ml,
                                fill_ml=self.fill_ml, events=events, seed=seed, override=self.override,
                                low_ml=0.1, low_days=3)


# The monograph's flow ceiling, 1 mL/h: at 2000 mcg/mL that would be 48 mg a
# day, far over the hard limit, so the ceiling is reached with the weakest
# standard concentration (1200 mcg/day: over the usual range, an override).
MAXIMUM = Rate("maximum 1 mL/h", 50, 50, 20, "bench: the monograph's flow ceiling")
# 500 mcg/day at 500 mcg/mL; the rate is whole ng/h, so 499.992 mcg/day.
TYPICAL = Rate("typical 500 mcg/day", 20.833, 500, 18)
# The lowest spinal maintenance dose of the strongest concentration.
LOWEST = Rate("lowest 12 mcg/day", 0.5, 2000, 1, "bench: lowest maintenance dose")
RATES = (LOWEST, TYPICAL, MAXIMUM)


def scenario_file(path, quick_days=None):
    """A scenario JSON file of tools/scenarios, checked and normalised; cut
    to `quick_days` in a --quick run."""
    from scenario import normalise
    with open(os.path.join(ROOT, path)) as f:
        scenario = normalise(json.load(f))
    if QUICK and quick_days is not None:
        scenario["duration_ms"] = min(scenario["duration_ms"], quick_days * 86_400_000)
    return scenario


class MicroPythonFailed(Exception):
    """The driver exited non-zero; the text is its last line of output."""


def micropython(script, scenario, heap, args=()):
    """Run `script` (relative to the repo root) in the MicroPython unix port
    on the compiled project, with `scenario` (a normalised scenario, or
    whatever else the driver reads) as a JSON file argument, then `args`.
    Returns (its stdout parsed as JSON, wall seconds of the whole
    subprocess: interpreter start, imports and run)."""
    mpenv.build_mpy()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(scenario, f)
    try:
        started = time.perf_counter()
        done = subprocess.run(mpenv.micropython_command(heap) + [script, f.name] + list(args),
                              cwd=ROOT, env=mpenv.micropython_env(), capture_output=True, text=True)
        wall_s = time.perf_counter() - started
    finally:
        os.unlink(f.name)
    if done.returncode:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise MicroPythonFailed("%s in micropython: %s" % (script, lines[-1] if lines else done.returncode))
    return json.loads(done.stdout), wall_s


def table(title, header, rows):
    """Print a small fixed-width table; cells are already strings."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    print(title)
    for row in [header] + rows:
        print("  " + "  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(row, widths))))
    print()


def percentile(sorted_values, fraction):
    """Nearest-rank percentile of an already sorted list."""
    rank = math.ceil(fraction * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]
