"""tools/trumpet.py against series whose window errors are known exactly."""
import json
import os

import pytest

import trumpet
from mpenv import ROOT

RATE = 1.0  # mL/h
DT = 30     # s
SAMPLES = 4 * 60 * 2  # 4 h of 30 s samples


def series(changes):
    """Volumes (mL) every 30 s of a flow at RATE, except sample intervals
    i (the one ending at sample i) whose flow is RATE * (1 + changes[i])."""
    volumes = [0.0]
    for i in range(1, SAMPLES + 1):
        volumes.append(volumes[-1] + RATE * (1 + changes.get(i, 0)) * DT / 3600)
    return volumes


# one interval 60 % fast at 65 min, one 30 % slow at 110 min: 45 min apart, so no
# window of at most 31 min holds both, and every window length has windows holding neither
SURGE, SURGE_AT, DIP, DIP_AT = 0.6, 130, -0.3, 220


def test_each_window_length_sees_a_one_interval_error_spread_over_its_samples():
    report = trumpet.analyse(series({SURGE_AT: SURGE, DIP_AT: DIP}), RATE)
    assert report["mean_error_pc"] == pytest.approx(100 * (SURGE + DIP) / 120, abs=1e-9)
    assert [row["window_min"] for row in report["trumpet"]] == [2, 5, 11, 19, 31]
    for row in report["trumpet"]:
        p = row["window_min"] * 2  # samples in the window
        assert row["windows"] == 120 - p + 1  # slid by one sample within the 60 min
        assert row["max_pc"] == pytest.approx(100 * SURGE / p, abs=1e-9)
        assert row["min_pc"] == pytest.approx(100 * DIP / p, abs=1e-9)


def test_a_steady_flow_has_a_flat_trumpet_at_its_offset():
    report = trumpet.analyse(series({i: 0.02 for i in range(1, SAMPLES + 1)}), RATE)
    assert report["mean_error_pc"] == pytest.approx(2.0, abs=1e-9)
    for row in report["trumpet"]:
        assert row["max_pc"] == pytest.approx(2.0, abs=1e-9) and row["min_pc"] == pytest.approx(2.0, abs=1e-9)


def test_the_start_up_curve_is_the_flow_of_each_sample_over_the_first_two_hours():
    report = trumpet.analyse(series({3: -1.0, 4: -0.5}), RATE)
    start = report["startup"]
    assert len(start["t_min"]) == 240 and start["t_min"][0] == 0.5 and start["t_min"][-1] == 120
    assert start["flow_ml_h"][:5] == pytest.approx([1.0, 1.0, 0.0, 0.5, 1.0], abs=1e-12)


def test_a_balance_log_gives_the_same_figures_through_density_evaporation_and_resampling(tmp_path):
    volumes = series({SURGE_AT: SURGE, DIP_AT: DIP})
    density, evaporation_mg_h = 1.02, 5.0
    rows = ["time_s,mass_g"]
    for i in range(0, SAMPLES * 3 + 1):  # a balance logging every 10 s, between the 30 s samples linearly
        t = i * 10
        v = volumes[i // 3] + (volumes[min(i // 3 + 1, SAMPLES)] - volumes[i // 3]) * (i % 3) / 3
        rows.append("%.3f,%.12f" % (t + 1000, 50 + v * density - evaporation_mg_h / 1000 * t / 3600))
    log = tmp_path / "balance.csv"
    log.write_text("\n".join(rows) + "\n")
    times, got = trumpet.balance_volumes(trumpet.read_balance_log(str(log)), density, evaporation_mg_h)
    report = trumpet.analyse(trumpet.resample(times, got), RATE)
    expected = trumpet.analyse(volumes, RATE)
    assert report["mean_error_pc"] == pytest.approx(expected["mean_error_pc"], abs=1e-6)
    for row, want in zip(report["trumpet"], expected["trumpet"]):
        assert row["max_pc"] == pytest.approx(want["max_pc"], abs=1e-6)
        assert row["min_pc"] == pytest.approx(want["min_pc"], abs=1e-6)


@pytest.mark.parametrize("text, message", [
    ("time_s,mass_g\n0,1\n30,1.1\n20,1.2\n", "times must increase"),
    ("0,1\n30,oops\n", "line 2: expected time_s,mass_g"),
    ("0,1\n", "fewer than two readings"),
    ("0,1\n30,1.000001\n", "analysis period 60-120 min needs"),
])
def test_a_bad_balance_log_gets_one_line_and_exit_2(tmp_path, capsys, text, message):
    log = tmp_path / "bad.csv"
    log.write_text(text)
    assert trumpet.main(["balance", str(log), "--rate-ml-h", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_a_simulated_run_gives_a_report_and_a_png(tmp_path, capsys):
    with open(os.path.join(ROOT, "tools", "scenarios", "alarms", "occlusion.json")) as f:
        scenario = json.load(f)
    scenario["events"] = []  # 25 mcg/h of 500 mcg/mL: 50 uL/h, 636.6 steps/h
    path = tmp_path / "flat.json"
    path.write_text(json.dumps(scenario))
    png = tmp_path / "trumpet.png"
    assert trumpet.main(["sim", str(path), "--json", "--plot", str(png)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rate_ml_h"] == pytest.approx(0.05)
    # whole motor steps: 637 of the 636.6 due in the hour, and within a step in every window
    assert abs(report["mean_error_pc"]) < 100 / 636.6
    for row in report["trumpet"]:
        one_step_pc = 100 / (636.6 * row["window_min"] / 60)
        assert -one_step_pc - 1e-9 <= row["min_pc"] <= row["max_pc"] <= one_step_pc + 1e-9
    assert png.read_bytes()[:4] == b"\x89PNG"
