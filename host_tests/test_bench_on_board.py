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
from pump.alarms import KIND_NAMES
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
    assert pump.ask(command, args)["ok"] is True
    if name == "restart":
        pump.serve_for(1_000)
        assert pump.hw.machine.reset.called  # after its reply went out
        pump.boot()  # what the reset leads to: the pump restored from flash
    else:
        end_us = pump.hw.now_us + ALARM_BUDGET_MS * 1000
        pump.serve_until(lambda board: kind in annunciating(pump) or pump.hw.now_us >= end_us)
    raised = raised_since(pump, before)
    assert raised[:1] == [kind], raised
    assert set(raised) <= {kind} | set(benchplan.CONSEQUENCES.get(kind, ())), raised
    if command == "bench" and name != "restart":
        assert pump.ask("bench", {"fault": "clear"})["ok"] is True
    elif command == "stop":
        assert pump.ask("resume")["ok"] is True
    pump.serve_for(60_000)
    assert pump.ask("ack")["ok"] is True
    pump.serve_for(60_000)
    assert pump.ctl.delivering, pump.ctl.stop_mask
    assert annunciating(pump) == []
    assert pump.ctl.reservoir.remaining_nl() <= remaining_nl  # nothing faked into the estimate
