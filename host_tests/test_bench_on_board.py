"""Every bench test's injection on the reference board itself: its drivers
on the fake machine (host_tests/fake_machine.py), firmware/main.py's loop,
the BENCH-ENABLE jumper fitted at boot. The alarm rises through the pump's
own checks, no other alarm rises with it than the plan allows, and the
command that injected it undoes it: delivery goes on, nothing is left
annunciating."""
import os

import pytest

import benchboard
import benchplan
import fake_machine
from pump.alarms import KIND_NAMES, PRIORITY_NAMES
from test_drivers_board import KEY_HEX, Rig
from test_main_on_board import PRESSURE_CHANNEL, USUAL, Pump, flashed, open_line_pressure_u16

BENCH_ENABLE = 21           # the jumper to ground, read once at boot
ALARM_BUDGET_MS = 3_600_000  # an hour of fake time is far more than any injection needs


@pytest.fixture
def pump(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sync", lambda: None)  # as in test_main_on_board: no host disk syncs
    with fake_machine.installed() as hw:
        rig = Rig(hw, tmp_path)
        hw.adc[PRESSURE_CHANNEL] = open_line_pressure_u16()
        hw.drive(BENCH_ENABLE, 0)
        rig.write("device.key", KEY_HEX + "\n")
        with flashed(rig) as main:
            yield Pump(rig, main)


def annunciating(pump):
    return [name for kind, name in enumerate(KIND_NAMES) if pump.ctl.alarms.active(kind)]


def raised_since(pump, count):
    return [KIND_NAMES[episode.kind] for episode in pump.ctl.alarms.history[count:]]


def crash_in_a_row(pump, args):
    """The plan's crash loop: main() itself (build, restore, serve) answers
    the `bench crash` typed ahead, raises out of its loop at the next
    sleep, logs the crash and resets, as many times as the plan says; then
    the boot that follows the last reset."""
    for _ in range(benchplan.CRASH_LOOP_CRASHES):
        pump.rig.stdin.feed(pump.frame("bench", args))
        pump.main.main()  # returns only because the fake machine.reset does
    assert pump.hw.machine.reset.call_count == benchplan.CRASH_LOOP_CRASHES
    pump.boot()
    crashes = [e for e in pump.ask("log", {"n": 50})["entries"] if e["event"] == "crash"]
    assert [e["detail"] for e in crashes] == ["another exception"] * benchplan.CRASH_LOOP_CRASHES


@pytest.mark.parametrize("test", benchboard.TESTS, ids=[test[0] for test in benchboard.TESTS])
def test_each_bench_injection_raises_its_alarm_on_the_reference_board_and_is_undone(pump, test):
    name, kind, command, args = test
    pump.boot()
    assert pump.board.bench_enabled
    pump.program(USUAL)
    pump.serve_for(5 * 60_000)
    assert annunciating(pump) == [] and pump.ctl.delivering
    before = len(pump.ctl.alarms.history)
    remaining_nl = pump.ctl.reservoir.remaining_nl()
    fault = args.get("fault")
    if fault == "crash":
        crash_in_a_row(pump, args)
    else:
        assert pump.ask(command, args)["ok"] is True
    if fault in ("restart", "outage"):
        pump.serve_for(1_000)
        assert pump.hw.machine.reset.called  # after its reply went out
        pump.boot()  # what the reset leads to: the pump restored from flash
    elif fault != "crash":
        end_us = pump.hw.now_us + ALARM_BUDGET_MS * 1000
        pump.serve_until(lambda board: kind in annunciating(pump) or pump.hw.now_us >= end_us)
    raised = raised_since(pump, before)
    assert kind in raised and set(raised) <= {kind} | set(benchplan.CONSEQUENCES.get(kind, ())), raised
    if command == "bench":
        assert pump.ask("bench", {"fault": "clear"})["ok"] is True
    if command == "stop" or kind == "crash_loop":  # only the clinician's resume lifts a crash loop
        assert pump.ask("resume")["ok"] is True
    pump.serve_for(60_000)
    assert pump.ask("ack")["ok"] is True
    pump.serve_for(60_000)
    assert pump.ctl.delivering, pump.ctl.stop_mask
    assert annunciating(pump) == []
    assert pump.ctl.reservoir.remaining_nl() <= remaining_nl  # nothing faked into the estimate


def test_an_injected_outage_is_measured_by_the_boot_and_leaves_the_clock_right(pump):
    """`bench outage`: the record says its last save was 90 min ago, and the
    board resets; the boot's own outage check finds 90 min off (medium: an
    hour to four of basal missed), while the pump's clock has moved on only
    the seconds the reset took."""
    pump.boot()
    pump.program(USUAL)
    pump.serve_for(5 * 60_000)
    before_s = pump.ctl.now_s()
    assert pump.ask("bench", {"fault": "outage", "min": 90})["ok"] is True
    pump.serve_for(1_000)
    pump.boot()
    assert 0 <= pump.ctl.now_s() - before_s < 60  # the reply, the drain, the boot: seconds, not 90 min
    missed = [e["detail"] for e in pump.ask("log", {"n": 50})["entries"] if e["event"] == "missed_delivery"]
    assert len(missed) == 1 and missed[0].endswith(" in the 90 min since the pump was last known running")
    episode = [e for e in pump.ctl.alarms.history if KIND_NAMES[e.kind] == "missed_delivery"][-1]
    assert PRIORITY_NAMES[episode.priority] == "medium"


def test_a_bench_command_before_the_outages_reset_cancels_it(pump):
    """The line after `bench outage`, read before the loop sleeps, undoes
    it: no reset, and the state record is saved again with its own time."""
    pump.boot()
    pump.program(USUAL)
    pump.serve_for(5 * 60_000)
    assert pump.ask("bench", {"fault": "outage", "min": 90})["ok"] is True
    assert pump.ask("bench", {"fault": "clear"})["ok"] is True  # answered before the loop slept
    pump.serve_for(1_000)
    assert not pump.hw.machine.reset.called
    pump.boot()  # a reset now finds no outage
    assert "missed_delivery" not in [e["event"] for e in pump.ask("log", {"n": 50})["entries"]]
