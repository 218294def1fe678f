"""Simulated days per wall second, CPython and MicroPython, on the 90-day scenarios.

    .venv/bin/python bench/sim_speed.py

CPython runs hw/sim/runner.py's Run in this process (the run alone is
timed). MicroPython runs `micropython hw/sim/runner.py scenario.json` on the
compiled .mpy, as tools/sim.py --interpreter micropython does, and the whole
subprocess is timed: interpreter start, imports, the run and the JSON dump.
The two reports rendered from them must be the same, which is what lets CI
trust a CPython run for the board's logic.
"""
import json
import time

from common import scenario_file, micropython, table
from hw.sim.runner import Run
from sim import SIM_HEAP, report

SCENARIOS = ("tools/scenarios/ninety_days_flex.json", "tools/scenarios/ninety_days_lowest_dose.json")


def differences(scenario, cpython, micro):
    """Fields of the two rendered reports (tools/sim.py) that differ."""
    a, b = report(scenario, cpython), report(scenario, micro)
    return [key for key in a if a[key] != b[key]]


def main():
    rows, checks = [], []
    for path in SCENARIOS:
        scenario = scenario_file(path, quick_days=2)
        days = scenario["duration_ms"] / 86_400_000
        started = time.perf_counter()
        cpython = Run(scenario).run()
        cpython_s = time.perf_counter() - started
        cpython = json.loads(json.dumps(cpython))  # tuples to lists, as the subprocess gives
        micro, micro_s = micropython("hw/sim/runner.py", scenario, SIM_HEAP)
        name = path.rsplit("/", 1)[-1]
        rows.append([name, "%.0f" % days, "%d" % cpython["wakes"],
                     "%.2f" % cpython_s, "%.1f" % (days / cpython_s),
                     "%.2f" % micro_s, "%.1f" % (days / micro_s)])
        diff = differences(scenario, cpython, micro)
        checks.append("  %s: reports %s" % (name, "identical" if not diff else "differ in " + ", ".join(diff)))
    table("Simulation speed (simulated days per wall second; MicroPython: whole subprocess, %s heap)" % SIM_HEAP,
          ["scenario", "days", "wake-ups", "CPython s", "days/s", "MicroPython s", "days/s"], rows)
    print("CPython vs MicroPython, the report tools/sim.py renders from each run:")
    print("\n".join(checks))
    print()


if __name__ == "__main__":
    main()
