"""Each failure class the sequence test found, as a scenario file that now
replays through every check (tools/scenarios/sequences/, also runnable with
tools/sim.py). A class whose fix has not landed is listed in STILL_BROKEN
with the check it still breaks, and the test insists it does: when the fix
lands the test says so, and the entry goes (it is a regression test from
then on)."""
import json
import os

import pytest

import seqcheck
from scenario import normalise
from seqcheck import Broken, CheckedRun

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOUND = os.path.join(ROOT, "tools", "scenarios", "sequences")
STILL_BROKEN = {}


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(FOUND) if n.endswith(".json")))
def test_a_found_sequence_keeps_every_promise(name, monkeypatch):
    monkeypatch.setattr(seqcheck, "PENDING", {})
    with open(os.path.join(FOUND, name)) as f:
        scenario = normalise(json.load(f))
    if name not in STILL_BROKEN:
        CheckedRun(scenario).run()
        return
    with pytest.raises(Broken) as broken:
        CheckedRun(scenario).run()
    assert broken.value.check == STILL_BROKEN[name], "%s now breaks %s" % (name, broken.value)
