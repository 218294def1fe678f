"""The refill-visit card: its dates against what the simulated pump then
really does, from a real scenario through tools/sim.py --card, and as a PNG.

The dates are checked against the run, not against another projection: the
card is taken early in a run, the run goes on without a refill until the
reservoir runs dry, and the low-reservoir and empty alarms the pump then
raises must come when the card said (within the few minutes a wake-up and a
queued batch take)."""
import json
import os

import pytest
from PIL import Image

import sim
from hw.sim.runner import Run
from pump.units import iso_to_clock_s
from simcase import HOUR_MS, scenario
from test_sim_runs import WEEK

SCENARIOS = os.path.join(os.path.dirname(__file__), "..", "tools", "scenarios")
EARLY_S = 180  # the empty alarm comes at the wake-up after the last batch was queued, up to a minute ahead
LATE_S = 180

# (program, scenario options): a daily and a weekly program running dry in about 10 days
PROGRAMS = (
    ("daily", {"steps": (("00:00", 30), ("07:00", 20), ("21:00", 30))}),
    ("weekly", {"week": WEEK}),
)


def raised(results, kind):
    return [r for k, _p, r, _a, _c in results["alarms"] if k == kind]


@pytest.mark.parametrize("program, options", PROGRAMS)
def test_the_cards_dates_are_when_the_pump_alarms_and_runs_dry(program, options):
    run = Run(scenario(24 * 12, start_ms=5 * HOUR_MS, fill_ml=12, low_ml=1.0, low_days=3, **options))
    run._advance()
    run.advance_to(7 * HOUR_MS)
    card = json.loads(run.line(b'{"cmd": "card"}'))
    assert card["program"] == program and card["state"] == "delivering"
    run.advance_to(24 * 12 * HOUR_MS)
    results = run.results()

    def run_s(iso):
        return iso_to_clock_s(iso) - run.start_s

    low, = raised(results, "low_reservoir")
    empty, = raised(results, "empty_reservoir")
    assert -EARLY_S <= low - run_s(card["low_alarm_at"]) <= LATE_S, (card["low_alarm_at"], low)
    # the card's empty date is the earliest the calibration's tolerance allows (pump/reservoir.py):
    # the pump delivers on to the true end (the end-of-travel switch), never running dry before it
    assert empty - run_s(card["empty_at"]) >= -EARLY_S, (card["empty_at"], empty)
    assert run_s(card["refill_by"]) == run_s(card["empty_at"]) - 3 * 86_400
    assert empty - low >= 3 * 86_400 - 60  # the lead held (but for the minute queued ahead)


def test_a_stopped_pump_projects_nothing():
    run = Run(scenario(2, events=[{"at_h": 1, "do": "command", "command": {"cmd": "stop", "args": {"reason": "x"}}}]))
    run.run()
    card = json.loads(run.line(b'{"cmd": "card"}'))
    assert card["state"] == "stopped" and card["empty_at"] is card["low_alarm_at"] is card["refill_by"] is None
    assert card["stop"] == "programmed" and card["stopped_minutes"] == 60 and card["not_delivered_mcg"] == 30
    lines = sim.card.text(card).splitlines()
    assert "Empty          - (the pump is stopped: no projection)" in lines
    assert "Stopped        since Mon 2026-03-02 09:00 (programmed), 30 mcg not delivered" in lines


def test_sim_prints_the_card_of_a_real_scenario_and_writes_it_as_a_page(tmp_path, capsys):
    png = tmp_path / "card.png"
    path = os.path.join(SCENARIOS, "week_flex.json")
    assert sim.main([path, "--card", "--card-png", str(png)]) == 0
    out = capsys.readouterr().out
    summary, text = out.split("\nREFILL-VISIT CARD")
    lines = text.splitlines()
    assert lines[1] == "Pump           serial SIM-000001, firmware 0.1.0"
    assert lines[3] == "Drug           baclofen, intrathecal, 500 mcg/mL"
    assert lines[4] == "Program        daily, 580 mcg a day"
    assert lines[5].split() == ["every", "day", "580", "mcg/day", "00:00", "30", "mcg/h", "07:00", "20", "mcg/h",
                                "21:00", "30", "mcg/h"]
    # the summary's projected empty time and the card's are the pump's one
    # projection (each rounded down to the second on its own)
    projected = iso_to_clock_s(summary.split("empty ")[-1].split()[0])
    empty = [line for line in lines if line.startswith("Empty")][0]
    card_minute = iso_to_clock_s(empty.split()[2] + "T" + empty.split()[3] + ":00")
    assert 0 <= projected - card_minute < 61
    with Image.open(png) as page:
        assert page.format == "PNG" and page.size == (827, 1169)  # one A4 page at 100 dpi


def test_sim_refuses_a_png_without_the_card(capsys):
    with pytest.raises(SystemExit) as stop:
        sim.main([os.path.join(SCENARIOS, "week_flex.json"), "--card-png", "x.png"])
    assert stop.value.code == 2
    assert "--card-png goes with --card" in capsys.readouterr().err
