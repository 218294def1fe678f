"""tools/sim.py as bench testers and CI use it: the same report, byte for
byte, whichever interpreter runs the pump; and a bad scenario refused in one
line naming the field, never with a traceback."""
import glob
import json
import os
import subprocess
import sys

import pytest

from mpenv import ROOT

SIM = [sys.executable, os.path.join(ROOT, "tools", "sim.py")]
SCENARIOS = sorted(glob.glob(os.path.join(ROOT, "tools", "scenarios", "*.json")) +
                   glob.glob(os.path.join(ROOT, "tools", "scenarios", "alarms", "*.json")))
GOOD = os.path.join(ROOT, "tools", "scenarios", "alarms", "occlusion.json")


def sim(*args):
    return subprocess.run(SIM + list(args), capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: os.path.relpath(p, os.path.join(ROOT, "tools", "scenarios")))
def test_the_report_is_identical_under_cpython_and_micropython(path):
    cpython = sim(path, "--json")
    micropython = sim(path, "--json", "--interpreter", "micropython")
    assert cpython.returncode == 0, cpython.stderr
    assert micropython.returncode == 0, micropython.stderr
    assert cpython.stdout == micropython.stdout
    report = json.loads(cpython.stdout)
    assert report["max_dose_error_steps"] <= 1
    assert report["reservoir"]["estimated_ml"] <= report["reservoir"]["true_ml"]


def test_the_human_summary_shows_days_reservoir_and_alarms():
    out = sim(os.path.join(ROOT, "tools", "scenarios", "week_flex.json")).stdout
    assert "Dose per day" in out and "day   6" in out
    assert "Reservoir:" in out and "occlusion" in out and "restart" in out


def bad(tmp_path, change):
    with open(GOOD) as f:
        scenario = json.load(f)
    change(scenario)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(scenario))
    return sim(str(path), "--json")


@pytest.mark.parametrize("change, field", [
    (lambda s: s["patient"].update(weight_kg=70), "patient: unknown field weight_kg"),
    (lambda s: s["reservoir"].update(fill_ml="18"), "reservoir.fill_ml"),
    (lambda s: s.update(duration_h=-1), "duration_h"),
    (lambda s: s["prescription"]["steps"][0].update(start="7am"), "prescription.steps.0.start"),
    (lambda s: s["prescription"]["steps"][0].update(mcg_per_h=0.0001), "prescription.steps.0.mcg_per_h"),
    (lambda s: s["prescription"]["steps"][0].update(mcg_per_h=90), "prescription: daily_dose_above_hard_max"),
    (lambda s: s["events"][0].update(at_h="soon"), "events.0.at_h"),
    (lambda s: s["events"].append({"at_h": 1, "do": "explode"}), "events.3.do"),
    (lambda s: s.update(start="yesterday"), "start"),
    (lambda s: s.pop("patient"), "patient"),
])
def test_a_bad_scenario_exits_non_zero_with_one_line_naming_the_field(tmp_path, change, field):
    result = bad(tmp_path, change)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0] and "Traceback" not in result.stderr, result.stderr
