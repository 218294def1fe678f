"""The bridge scenarios (tools/scenarios/bridge/) through tools/sim.py, on
both interpreters: the same report byte for byte; with the bridge the dose
at the catheter tip stays within 5 % of the programmed every hour, without
it the report shows the excursion (a quarter, or four times, of the dose
until the line is flushed, then the programmed again)."""
import json
import os
import subprocess
import sys

import pytest

from mpenv import ROOT

SCENARIOS = os.path.join(ROOT, "tools", "scenarios", "bridge")
REFILL_H = 12
# scenario -> (tip dose in % of the programmed from the refill, hours until the line is flushed)
EXPECTED = {"500_to_2000_bridge": (100, 5), "500_to_2000_no_bridge": (25, 20),
            "2000_to_500_bridge": (100, 20), "2000_to_500_no_bridge": (400, 5)}


def report(name, interpreter):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "sim.py"), "--json", "--interpreter",
                             interpreter, os.path.join(SCENARIOS, name + ".json")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_tip_dose_hour_by_hour_on_both_interpreters(name):
    text = report(name, "cpython")
    assert report(name, "micropython") == text
    hourly = json.loads(text)["tip_hourly"]
    assert len(hourly) == 48
    pct, flush_h = EXPECTED[name]
    for row in hourly:
        h = row["hour"]
        expected = pct if REFILL_H <= h < REFILL_H + flush_h else 100
        assert abs(100 * row["tip_mcg"] / row["programmed_mcg"] - expected) <= 0.05 * min(expected, 100), row
