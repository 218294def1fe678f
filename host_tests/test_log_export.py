"""pumpctl log --export: the whole event log, not the newest 50, from the
simulated pump behind a fake serial line, into CSV or JSON."""
import csv
import json

import pytest

import pumpctl
from pump import events
from simcase import run
from test_pumpctl import FakeSerial

REASON = "drowsy at the clinic, see chart"


class SimulatedPump:
    """The simulated pump's protocol, as a FakeSerial expects it."""

    def __init__(self, sim):
        self.sim = sim

    def handle_line(self, line, _now_s):
        return self.sim.line(line)


@pytest.fixture(scope="module")
def pump():
    events_ = [{"at_h": 0.5 + 0.05 * i, "do": "power_cut", "off_ms": 1000} for i in range(60)]
    events_ += [{"at_h": 4, "do": "command", "command": {"cmd": "stop", "args": {"reason": REASON}}},
                {"at_h": 4.5, "do": "command", "command": {"cmd": "resume"}}]
    sim, _results = run(5, events=events_)
    return sim


def export(pump, tmp_path, name):
    path = tmp_path / name
    status = pumpctl.main(["--port", "sim", "log", "--export", str(path)],
                          open_port=lambda *_a: FakeSerial(SimulatedPump(pump)))
    return status, path


def expected_seqs(sim):
    """Every entry the pump holds that is not a note, oldest first (straight from its log)."""
    held = sim.ctl.log.newest(10**6)
    return sorted(seq for seq, _t, code, _a, _b in held if code != events.NOTE)


def test_the_export_holds_every_entry_the_pump_keeps_oldest_first_with_its_notes(pump, tmp_path):
    status, path = export(pump, tmp_path, "events.csv")
    assert status == 0
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) > 150  # pages of 50: the whole log, not the newest page
    assert [int(r["seq"]) for r in rows] == expected_seqs(pump)
    stopped = [r for r in rows if r["event"] == "stopped" and r["detail"] == "command"]
    assert stopped and stopped[-1]["note"] == REASON


def test_json_export_is_the_same_entries(pump, tmp_path):
    status, path = export(pump, tmp_path, "events.json")
    assert status == 0
    entries = json.loads(path.read_text())
    assert [e["seq"] for e in entries] == expected_seqs(pump)
    assert {"seq", "time", "event", "detail"} <= set(entries[0])


def test_an_export_file_of_another_kind_is_refused_before_asking_the_pump(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        pumpctl.main(["--port", "sim", "log", "--export", str(tmp_path / "events.txt")],
                     open_port=lambda *_a: pytest.fail("the port was opened"))
    assert exit_.value.code == 2 and "must end in .csv or .json" in capsys.readouterr().err
