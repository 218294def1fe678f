"""tools/sim.py as bench testers and CI use it: the same report, byte for
byte, whichever interpreter runs the pump; and a bad scenario refused in one
line naming the field, never with a traceback."""
import glob
import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpenv import ROOT

SIM = [sys.executable, os.path.join(ROOT, "tools", "sim.py")]
SCENARIOS = sorted(glob.glob(os.path.join(ROOT, "tools", "scenarios", "*.json")) +
                   glob.glob(os.path.join(ROOT, "tools", "scenarios", "alarms", "*.json")))
GOOD = os.path.join(ROOT, "tools", "scenarios", "alarms", "occlusion.json")
# The 90-day scenarios run here for their first week: MicroPython takes minutes
# over 90 days. bench/sim_speed.py compares their whole runs (make bench).
LONGEST_H = 7 * 24


def sim(*args):
    return subprocess.run(SIM + list(args), capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: os.path.relpath(p, os.path.join(ROOT, "tools", "scenarios")))
def test_the_report_is_identical_under_cpython_and_micropython(path, tmp_path):
    with open(path) as f:
        scenario = json.load(f)
    if scenario["duration_h"] > LONGEST_H:
        scenario["duration_h"] = LONGEST_H
        scenario["events"] = [event for event in scenario.get("events", []) if event["at_h"] <= LONGEST_H]
        path = str(tmp_path / os.path.basename(path))
        with open(path, "w") as f:
            json.dump(scenario, f)
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


def nested(depth):
    value = {}
    for _ in range(depth):
        value = {"a": value}
    return value


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
    # numbers no pump or person means: refused before a run that would hang or overflow
    (lambda s: s["events"].append({"at_h": 1, "do": "power_cut", "off_s": 1e300}), "events.3.off_s"),
    (lambda s: s.update(board={"steps_per_ml": 1e12}), "board.steps_per_ml"),
    (lambda s: s.update(board={"steps_per_ml": 20_000}), "board.steps_per_ml"),
    (lambda s: s.update(board={"true_steps_per_ml": 10**12}), "board.true_steps_per_ml"),
    (lambda s: s["prescription"]["steps"][0].update(mcg_per_h=10**400), "prescription.steps.0.mcg_per_h"),
    (lambda s: s["reservoir"].update(capacity_ml=0.5, fill_ml=0.5), "reservoir.capacity_ml"),
    (lambda s: s["events"].append({"at_h": 1, "do": "supply", "mv": 1e300}), "events.3.mv"),
    (lambda s: s.update(seed=2**64), "seed"),
    # more events than MicroPython's run can hold (scenario.MAX_EVENTS)
    (lambda s: s.update(events=[{"at_h": 1, "do": "press"}] * 10_001), "events: 10001 items, at most 10000"),
    (lambda s: s["events"].append({"at_h": 1, "do": "command", "command": {"cmd": "bolus", "args": nested(50)}}),
     "events.3.command: nested deeper"),
    # the pump's clock keeps 2000-2099
    (lambda s: s.update(start="1999-12-31T08:00:00"), "start: local time in 2000-2099"),
    (lambda s: s.update(start="2100-01-01T08:00:00"), "start: local time in 2000-2099"),
    (lambda s: s.update(start="2099-12-31T20:00:00"), "duration_h: the run would go past 2099-12-31"),
])
def test_a_bad_scenario_exits_non_zero_with_one_line_naming_the_field(tmp_path, change, field):
    result = bad(tmp_path, change)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0] and "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("text, message", [
    ('{"a":' * 100_000 + "1" + "}" * 100_000, "nested too deeply"),
    ('{"start": "2026-03-02T08:00:00", "duration_h": 1e400}', "too large a number"),
])
def test_a_file_json_cannot_hold_as_a_scenario_gets_one_line(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    result = sim(str(path))
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_the_summary_shows_every_refused_command_with_its_reason(tmp_path):
    with open(GOOD) as f:
        scenario = json.load(f)
    scenario["events"] = [{"at_h": 1, "do": "command", "command": {"cmd": "bolus", "args": {"mcg": 5000}}},
                          {"at_h": 2, "do": "power_cut", "off_s": 600},
                          {"at_h": 2.05, "do": "command", "command": {"cmd": "status"}},
                          {"at_h": 3, "do": "refill", "add_ml": 60, "concentration_mcg_per_ml": 500}]
    path = tmp_path / "refusals.json"
    path.write_text(json.dumps(scenario))
    out = sim(str(path)).stdout
    refused = out.split("Refused commands")[1].split("\n\n")[0].splitlines()[1:]
    assert len(refused) == 3, out
    assert "0d 01:00:00" in refused[0] and "bolus" in refused[0] and "bad_args: mcg: must be" in refused[0]
    assert "0d 02:03:00" in refused[1] and "status" in refused[1] and "no_answer" in refused[1]
    assert "0d 03:00:00" in refused[2] and "refill" in refused[2] and "add_ml" in refused[2]


def test_micropython_runs_a_thousand_power_cuts_as_cpython_does(tmp_path):
    # 959 cuts in 48 h ended in MemoryError on MicroPython: a (time, pattern)
    # tuple per lamp and buzzer change, kept for the run, fragmented the heap
    # (hw/sim/devices.py's Recorder keeps them flat now)
    with open(GOOD) as f:
        scenario = json.load(f)
    scenario["duration_h"] = 48
    scenario["events"] = [{"at_h": round(0.05 * (i + 1), 2), "do": "power_cut", "off_s": 1} for i in range(959)]
    path = tmp_path / "cuts.json"
    path.write_text(json.dumps(scenario))
    cpython = sim(str(path), "--json")
    micropython = sim(str(path), "--json", "--interpreter", "micropython")
    assert micropython.returncode == 0, micropython.stderr
    assert cpython.stdout == micropython.stdout
    assert json.loads(cpython.stdout)["restarts"] == 959


FIELDS = (("duration_h",), ("seed",), ("reservoir", "fill_ml"), ("reservoir", "capacity_ml"),
          ("reservoir", "concentration_mcg_per_ml"), ("prescription", "steps", 0, "mcg_per_h"),
          ("settings", "low_reservoir_ml"), ("settings", "low_reservoir_days"), ("patient", "age_years"),
          ("board", "steps_per_ml"), ("board", "true_steps_per_ml"), ("events", 0, "at_h"), ("events", 1, "off_s"),
          ("events", 2, "mv"), ("events", 3, "c"), ("events", 4, "add_ml"), ("events", 5, "command", "args", "mcg"))
ODD_VALUES = (1e300, -1e300, 10**400, -(10**400), 0, -1, 1e-300, 2**31, 2**63, 0.5, 12_732, "1", None, [], {})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(st.tuples(st.sampled_from(FIELDS), st.sampled_from(ODD_VALUES)), min_size=1, max_size=3))
def test_any_odd_number_anywhere_runs_or_gets_one_line_and_exit_2(tmp_path, capsys, changes):
    """In process (fast): sim.main either reports a run that ended at its end, or refuses in one line."""
    import sim as sim_tool
    scenario = {"start": "2026-03-02T08:00:00", "duration_h": 0.5, "seed": 3, "board": {"steps_per_ml": 12_732},
                "patient": {"origin": "spinal", "age_years": 45, "days_since_implant": 200},
                "reservoir": {"capacity_ml": 20, "fill_ml": 10, "concentration_mcg_per_ml": 500},
                "prescription": {"steps": [{"start": "00:00", "mcg_per_h": 25}]},
                "settings": {"low_reservoir_ml": 2, "low_reservoir_days": 7},
                "events": [{"at_h": 0.1, "do": "occlude"}, {"at_h": 0.2, "do": "power_cut", "off_s": 60},
                           {"at_h": 0.2, "do": "supply", "mv": 5000}, {"at_h": 0.3, "do": "temperature", "c": 30},
                           {"at_h": 0.3, "do": "refill", "add_ml": 1, "concentration_mcg_per_ml": 500},
                           {"at_h": 0.4, "do": "command", "command": {"cmd": "bolus", "args": {"mcg": 10}}}]}
    for path, value in changes:
        where = scenario
        for key in path[:-1]:
            where = where[key]
        where[path[-1]] = value
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(scenario))
    status = sim_tool.main([str(path), "--json"])
    out, err = capsys.readouterr()
    if status == 0:
        assert err == ""
        assert json.loads(out)["daily"]
    else:
        assert status == 2 and out == "" and len(err.strip().splitlines()) == 1, err


def test_plot_draws_the_run_into_a_png_and_leaves_the_report_as_it_was(tmp_path):
    png = tmp_path / "occlusion.png"
    plotted = sim(GOOD, "--json", "--plot", str(png))
    assert plotted.returncode == 0, plotted.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plotted.stdout == sim(GOOD, "--json").stdout


def test_the_trace_behind_the_plot_holds_the_run(tmp_path):
    """In process: the occlusion shows in the gauge's peak, the alarm's band has its times."""
    import sim as sim_tool
    from simplot import plot_run, sample_interval_ms
    _raw, scenario = sim_tool.load_scenario(GOOD)
    scenario["trace_ms"] = sample_interval_ms(scenario["duration_ms"])
    results = sim_tool.run_cpython(scenario)
    trace = results["trace"]
    assert trace["sample_ms"] == 30_000 and trace["t_ms"][-1] == scenario["duration_ms"]
    assert max(trace["pressure_mpsi"]) > 2000  # the blocked line rose past the threshold between samples
    assert trace["patient_steps"][-1] == results["delivered_steps"]
    assert all(e <= t for e, t in zip(trace["estimated_steps"], trace["reservoir_steps"]))
    plot_run(scenario, results, str(tmp_path / "small.png"), "small", size=(4, 4), dpi=40)
