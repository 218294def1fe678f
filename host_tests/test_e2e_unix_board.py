"""End to end, as far as it goes without a Pico: deploy with the real mpremote
to a MicroPython unix port standing in for the board, boot the deployed
main.py there on the simulated board (real time, 600x), and drive it with
the real pumpctl over the pty: program a schedule, read status, trigger an
alarm in bench mode, acknowledge it, see delivery resume, and find the
pump's records in its own filesystem.

What this does not reach: the RP2040 itself, its PIO, ADC, I2C and USB
stack (see docs in the README: "What is not tested without a board").
"""
import json
import os
import subprocess
import sys
import time

import pytest

from mpenv import ROOT
from hw.calibration import CALIBRATION_LIMITS, DEFAULT_CALIBRATION
from pump.units import iso_to_clock_s
from simboard import running_firmware  # noqa: E402
from unixboard import deployed_board, needs_socat  # noqa: E402

KEY_HEX = "5a" * 32
PUMPCTL = [sys.executable, os.path.join(ROOT, "tools", "pumpctl.py")]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """(root folder, key file) of a unix-port board with the sim firmware on it."""
    root, key = deployed_board(tmp_path_factory.mktemp("e2e"), KEY_HEX)
    (root / "sim.json").write_text(json.dumps({"speed": 600, "seed": 3}))
    return root, key


@pytest.fixture(scope="module")
def pump(deployed, tmp_path_factory):
    """pumpctl(*args) -> parsed JSON reply, against the running firmware."""
    root, key = deployed
    port = str(tmp_path_factory.mktemp("fw") / "tty")
    with running_firmware(root, port):
        def pumpctl(*args, check=True):
            result = subprocess.run(PUMPCTL + ["--port", port, "--key-file", str(key), "--timeout", "10",
                                               "--json"] + list(args),
                                    capture_output=True, text=True, timeout=60)
            if check:
                assert result.returncode == 0, result.stdout + result.stderr
            return json.loads(result.stdout) if result.stdout.strip() else None
        pumpctl.port = port
        yield pumpctl


def wait_for(pumpctl, predicate, what, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = pumpctl("status")
        if predicate(status):
            return status
        time.sleep(0.5)
    raise AssertionError("waited %d s for %s; last status %r" % (timeout_s, what, status))


@needs_socat
def test_a_fresh_pump_answers_and_is_not_delivering(pump):
    status = pump("status")
    assert status["ok"] and status["delivering"] is False and status["alarms"] == []


@needs_socat
def test_programmed_over_the_pty_it_delivers(pump):
    assert pump("patient", "spinal", "--age-years", "45", "--days-since-implant", "200")["ok"]
    assert pump("refill", "--add-ml", "18", "--concentration", "500", "--confirm")["ok"]
    assert pump("settings", "--low-reservoir-ml", "2", "--low-reservoir-days", "7")["ok"]
    assert pump("set-prescription", "00:00=30", "07:00=20")["daily_mcg"] == 550
    status = wait_for(pump, lambda s: s["remaining_ml"] < 17.99, "steps to go out")
    assert status["delivering"] and status["rate_mcg_per_h"] in (20, 30)


@needs_socat
def test_a_bench_stall_is_alarmed_acknowledged_and_delivery_resumes(pump):
    assert pump("bench", "stall")["ok"]
    wait_for(pump, lambda s: "motor_stall" in s["alarms"], "the stall alarm")
    assert "delivery_stopped" in pump("alarms")["active"]
    assert pump("bench", "clear")["ok"]
    assert pump("ack")["ok"]
    status = wait_for(pump, lambda s: s["delivering"], "delivery to resume")
    assert "motor_stall" not in status["alarms"]


@needs_socat
def test_a_command_signed_with_the_wrong_key_is_refused_and_changes_nothing(pump, tmp_path):
    wrong = tmp_path / "wrong.key"
    wrong.write_text("a5" * 32 + "\n")
    before = pump("prescription")
    reply = pump("--key-file", str(wrong), "stop", "not the clinician", check=False)
    assert reply["ok"] is False and reply["error"] == "bad_mac"
    assert pump("prescription")["steps"] == before["steps"] and pump("status")["delivering"]


@needs_socat
def test_the_pump_keeps_its_records_in_its_own_filesystem(pump, deployed):
    root, _key = deployed
    names = sorted(os.listdir(root / "data"))
    assert {"state.a", "state.b"} & set(names) and any(n.startswith("events") for n in names)
    kinds = [entry["event"] for entry in pump("log", "-n", "50")["entries"]]
    assert "prescription" in kinds and "alarm_raised" in kinds and "alarm_acknowledged" in kinds


@needs_socat
def test_a_weekly_program_and_its_refill_card_over_the_pty(pump, tmp_path):
    reply = pump("set-prescription", "--day", "mon-fri", "00:00=30", "07:00=20", "--day", "sat,sun", "00:00=30",
                 "09:00=25")
    assert reply["program"] == "weekly" and reply["week_mcg"] == 5 * 550 + 2 * 645
    card = pump("card")
    assert card["program"] == "weekly" and [day["daily_mcg"] for day in card["days"]] == [550] * 5 + [645] * 2
    assert card["serial"].startswith("SIM-") and card["firmware"] == pump("version")["firmware"]
    assert card["state"] == "delivering" and card["time"] < card["refill_by"] < card["empty_at"]
    # what is surely left (counted at the lowest calibration the board accepts), at between the lightest
    # and the heaviest day, lasts about as long as the card says, each step moving that much
    lowest, nominal = CALIBRATION_LIMITS["steps_per_ml"][0], DEFAULT_CALIBRATION["steps_per_ml"]
    left_mcg = card["reservoir_ml"] * card["concentration_mcg_per_ml"] * lowest / nominal
    days_left = (iso_to_clock_s(card["empty_at"]) - iso_to_clock_s(card["time"])) / 86_400
    assert left_mcg / 645 - 0.1 <= days_left <= left_mcg / 550 + 0.1
    png = tmp_path / "card.png"
    port = pump.port
    result = subprocess.run(PUMPCTL + ["--port", port, "--timeout", "10", "card", "--png", str(png)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("REFILL-VISIT CARD") and "Program        weekly, 4040 mcg a week" in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_socat
def test_a_concentration_change_its_bridge_and_a_prime_over_the_pty(pump):
    assert pump("settings", "--catheter-cm", "50", "--catheter-ml-per-cm", "0.002")["line_ul"] == 200
    refill = pump("refill", "--add-ml", "10", "--concentration", "2000", "--confirm")
    proposal = refill["bridge"]
    assert proposal["old_mcg_per_ml"] == 500 and proposal["new_mcg_per_ml"] == 2000
    assert proposal["without_bridge_tip_dose_pct"] == 25 and not proposal["bridging"]
    assert pump("bridge", check=False)["error"] == "confirm"  # it says what it would do, and waits
    assert pump("bridge", "--confirm")["bridging"]
    assert pump("status")["line"]["bridging"]
    # a prime pushes the old drug out with the line's worth of the new: nothing left to bridge
    assert pump("prime", "--then", "stop", "--reason", "catheter revised")["line_ul"] == 200
    status = wait_for(pump, lambda s: s["state"] == "stopped", "the prime to end in stopped-pump mode")
    assert status["stop"] == "programmed" and status["line"]["old_drug_mcg_per_ml"] is None
    stops = [e for e in pump("log", "-n", "50")["entries"] if e["event"] == "stopped"]
    assert stops[0].get("note") == "catheter revised", stops
