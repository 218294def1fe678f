"""tools/bench.py and tools/benchrig.py: alarms triggered and timed.

The sim path runs the alarm scenarios end to end. The board path talks to the
real firmware (pump.commands and pump.controller on the simulated board of
hw/sim/runner.py) through test_pumpctl's fake serial line, so every bench,
stop, ack and resume line is framed, authenticated and executed as on a
board. The rig runs on Blinka's OS-agnostic test board, whose pins behave
as fixed, toggling or write-only lines.
"""
import json
import os
import signal
import time

os.environ["BLINKA_OS_AGNOSTIC"] = "1"  # before anything imports Blinka's `board`

import digitalio  # noqa: E402
import pytest  # noqa: E402

import bench  # noqa: E402
import benchboard  # noqa: E402
import benchplan  # noqa: E402
import benchrig  # noqa: E402
import mpenv  # noqa: E402
import pumpctl  # noqa: E402
from hw.sim.runner import HOST_KEY, Run  # noqa: E402
from pump import events  # noqa: E402
from pump.alarms import KIND_NAMES, TONE_HIGH_MS, TONE_MEDIUM_MS  # noqa: E402
from scenario import normalise  # noqa: E402
from test_pumpctl import FakeSerial, SilentSerial  # noqa: E402
from simboard import behind_pty  # noqa: E402
from unixboard import needs_socat  # noqa: E402


# ------------------------------------------------------------------ the plan

# (expected, priority, tone, lamp, flash period ms, pulses) -> what is reported
PLAN_CHECKS = (
    (("high", "high", "high", "red", 500, 10), []),
    (("medium", "medium", "medium", "yellow", 2000, 3), []),
    (("low", "low", "none", "yellow", 0, None), []),
    (("high", None, None, None, None, None), ["not raised"]),
    (("high", "medium", None, None, None, None), ["priority medium, expected high"]),
    (("medium", "medium", "high", None, None, None), ["buzzer played high, expected medium"]),
    (("high", "high", None, "yellow", 500, None), ["lamp yellow, expected red"]),
    (("high", "high", None, "red", 0, None), ["lamp steady, expected flashing at 1.4-2.8 Hz"]),
    (("medium", "medium", None, "yellow", 500, None), ["lamp at 2.00 Hz, expected flashing at 0.4-0.8 Hz"]),
    (("low", "low", None, "yellow", 1000, None), ["lamp flashes at 1.00 Hz, expected steady"]),
    (("high", "high", None, None, None, 5), ["5 pulses per burst, expected 10"]),
)


def test_a_kind_is_judged_on_priority_tone_lamp_and_burst_per_iec_60601_1_8():
    for args, expected in PLAN_CHECKS:
        assert benchplan.problems(*args) == expected, args


def test_the_bench_plan_covers_every_alarm_kind_once():
    from pump.alarms import KIND_NAMES
    assert sorted(benchplan.EXPECTED_PRIORITY) == sorted(KIND_NAMES)


def test_every_alarm_kind_the_pump_has_a_bench_test_that_injects_it():
    from pump.alarms import KIND_NAMES
    from pump.benchfaults import BENCH_FAULTS
    assert benchboard.kinds_without_a_test() == []
    assert {kind for _name, kind, _command, _args in benchboard.TESTS} == set(KIND_NAMES)
    for _name, _kind, command, args in benchboard.TESTS:
        assert command == "stop" or args["fault"] in BENCH_FAULTS


def test_a_kind_without_a_bench_test_stops_the_bench_tool(monkeypatch, capsys):
    monkeypatch.setattr(benchboard, "KIND_NAMES", benchboard.KIND_NAMES + ("reminder_due",))
    assert bench.main(["sim", "restart"]) == benchplan.EXIT_FAIL
    assert "no bench test raises reminder_due" in capsys.readouterr().err


# ------------------------------------------------------------------ simulator

def run_json(capsys, *argv, **kwargs):
    code = bench.main(list(argv), **kwargs)
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_sim_times_each_alarm_from_its_fault_and_reports_what_was_annunciated(capsys):
    code, report = run_json(capsys, "sim", "--json", "motor_stall", "temperature")
    assert code == 0 and report["passed"]
    stall, warm = report["kinds"]
    assert stall["fault_at_s"] == 7200 and 0 < stall["alarm_after_s"] <= 120
    assert (stall["priority"], stall["tone"], stall["lamp"], stall["flash_period_ms"]) == ("high", "high", "red", 500)
    assert stall["delivery_stopped"] is True and stall["result"] == "PASS"
    assert (warm["tone"], warm["lamp"], warm["flash_period_ms"]) == ("none", "yellow", 0)
    assert warm["delivery_stopped"] is False


def test_sim_has_no_fault_time_for_a_condition_present_from_the_start(capsys):
    _code, report = run_json(capsys, "sim", "--json", "low_reservoir")
    row = report["kinds"][0]
    # (raised in the run's first second: the boot waits for the DS3231's second edge)
    assert row["raised_s"] <= 1 and row["fault_at_s"] is None and row["alarm_after_s"] is None


def test_sim_under_micropython_reports_the_same_rows(capsys):
    _code, on_cpython = run_json(capsys, "sim", "--json", "occlusion")
    code, on_micropython = run_json(capsys, "sim", "--json", "--interpreter", "micropython", "occlusion")
    assert code == 0
    assert on_micropython["kinds"] == on_cpython["kinds"]


def test_sim_table_has_a_row_per_kind_and_exits_1_on_a_failure(capsys, monkeypatch):
    monkeypatch.setitem(benchplan.EXPECTED_PRIORITY, "delivery_stopped", "high")
    assert bench.main(["sim", "delivery_stopped", "restart"]) == benchplan.EXIT_FAIL
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["kind", "expected", "priority"]
    assert lines[1].split()[0] == "delivery_stopped" and lines[1].split()[-1] == "FAIL"
    assert lines[2].split()[0] == "restart" and lines[2].split()[-1] == "PASS"
    assert "  delivery_stopped: priority medium, expected high" in lines


def test_an_unknown_kind_is_a_usage_error():
    with pytest.raises(SystemExit) as stop:
        bench.main(["sim", "overdose"])
    assert stop.value.code == 2


# ---------------------------------------------------------------------- board

class SimulatedPump:
    """The pump firmware on the simulated board, programmed as in the alarm
    scenarios and delivering 25 mcg/h; each line it is sent lets step_ms of
    simulated time pass first, so a polling host sees the pump move on."""

    def __init__(self, step_ms=10_000):
        with open(os.path.join(bench.ALARM_DIR, "motor_stall.json")) as f:
            scenario = json.load(f)
        del scenario["events"]
        self.run = Run(normalise(scenario))
        self.step_ms = step_ms

    def handle_line(self, line, _now_s):
        self.run.advance_to(self.run.time.t_ms + self.step_ms)
        return self.run.line(line)


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "device.key"
    path.write_text(HOST_KEY.hex())
    return str(path)


def on_board(pump, key_file, *argv):
    port = FakeSerial(pump)
    argv = ["board", "--port", "fake", "--key-file", key_file, "--poll", "0", "--alarm-timeout", "60", *argv]
    return bench.main(argv, open_port=lambda name, baud: port), port


@pytest.mark.parametrize("test", [name for name, _kind, _command, _args in benchboard.TESTS])
def test_board_injects_times_and_undoes_every_alarm_kind(test, key_file, capsys):
    pump = SimulatedPump()
    remaining_nl = pump.run.ctl.reservoir.remaining_nl()
    code, _port = on_board(pump, key_file, "--json", test)
    row = json.loads(capsys.readouterr().out)["kinds"][0]
    kind = benchboard.TEST_KIND[test]
    assert code == 0, row
    assert row["result"] == "PASS" and row["problems"] == []
    assert row["priority"] == benchplan.EXPECTED_PRIORITY[kind]
    assert row["timed_by"] == "alarms poll" and row["alarm_after_s"] >= row["resolution_s"] >= 0
    consequences = benchplan.CONSEQUENCES.get(kind, ())
    assert kind in row["raised"] and set(row["raised"]) <= {kind, *consequences}
    assert row["delivery_stopped"] == ("delivery_stopped" in consequences or kind == "delivery_stopped")
    # undone by the command that injected it: delivering, nothing left forced, no alarm left
    ctl, board = pump.run.ctl, pump.run.board
    assert ctl.delivering and row["note"] is None
    assert board._bench is None and not board.mechanism.occluded and board.clock.valid()
    assert [k for k in range(len(KIND_NAMES)) if ctl.alarms.active(k)] == []
    # and the reservoir estimate never went up (no refill was faked)
    assert ctl.reservoir.remaining_nl() <= remaining_nl


def test_occlusion_is_seen_within_5_ul_and_raises_no_sensor_fault(key_file, capsys):
    """Regression: the ramp the bench used to play was a noiseless reading
    that repeated between steps, and the stuck-sensor check raised a
    pressure_sensor_fault the report did not show."""
    pump = SimulatedPump()
    code, _port = on_board(pump, key_file, "--json", "occlusion")
    row = json.loads(capsys.readouterr().out)["kinds"][0]
    assert code == 0 and row["raised"] == ["occlusion", "delivery_stopped"]
    assert 1 <= row["pushed_ul"] <= 5


def test_a_test_that_raises_an_alarm_it_does_not_expect_fails_and_says_which(key_file, capsys, monkeypatch):
    pump = SimulatedPump()
    stall = pump.run.board.inject

    def stall_and_overheat(fault, value=None):
        stall(fault, value)
        if fault == "stall":
            pump.run.board.temperature = 40_000
    monkeypatch.setattr(pump.run.board, "inject", stall_and_overheat)
    code, _port = on_board(pump, key_file, "--json", "motor_stall")
    row = json.loads(capsys.readouterr().out)["kinds"][0]
    assert code == benchplan.EXIT_FAIL
    assert (row["priority"], row["result"]) == ("high", "FAIL")
    assert sorted(row["raised"]) == ["delivery_stopped", "motor_stall", "temperature"]
    assert row["problems"] == ["also raised temperature, which this test does not expect"]


def test_the_table_lists_what_each_test_raised(key_file, capsys):
    code, _port = on_board(SimulatedPump(), key_file, "motor_stall")
    header, row = capsys.readouterr().out.splitlines()[:2]
    assert code == 0
    assert header.split()[:2] == ["test", "kind"] and "raised" in header and "pushed uL" in header
    assert row.split()[-3:] == ["motor_stall,", "delivery_stopped", "PASS"]


def test_a_kind_with_several_tests_runs_each_of_them(key_file, capsys):
    code, _port = on_board(SimulatedPump(), key_file, "--json", "pressure_sensor_fault")
    rows = json.loads(capsys.readouterr().out)["kinds"]
    assert code == 0
    assert [r["test"] for r in rows] == ["sensor_open", "sensor_stuck", "sensor_out_of_range"]
    assert {r["kind"] for r in rows} == {"pressure_sensor_fault"}


def test_each_injection_is_logged_with_its_value(key_file, capsys):
    pump = SimulatedPump()
    on_board(pump, key_file, "low_battery", "temperature", "missed_delivery")
    entries = [(e[2], e[3], e[4]) for e in pump.run.ctl.log.newest(50)]
    faults = [events.describe(code, a, b) for code, a, b in entries if code == events.BENCH_FAULT]
    assert faults == ["clear", "outage 720 min", "clear", "temperature 35000 mc", "clear", "low_battery 3200 mv"]


def test_without_the_jumper_only_the_tests_that_need_none_run(key_file, capsys):
    pump = SimulatedPump()
    pump.run.commands.protocol._bench_enabled = False  # as a board booted without the jumper
    code, port = on_board(pump, key_file, "motor_stall", "delivery_stopped")
    captured = capsys.readouterr()
    assert code == 0
    assert "bench mode is off" in captured.err
    assert "motor_stall: needs the BENCH-ENABLE jumper at boot" in captured.out
    assert captured.out.splitlines()[2].split()[0] == "delivery_stopped"
    assert captured.out.splitlines()[2].split()[-1] == "PASS"
    assert not [line for line in port.written if b'"bench"' in line]


def test_a_pump_that_is_not_delivering_is_not_injected(key_file, capsys):
    pump = SimulatedPump()
    pump.run.line(pump.run.sign({"cmd": "stop", "args": {"reason": "held"}}))
    code, port = on_board(pump, key_file, "motor_stall")
    assert code == 0
    assert "the pump is not delivering (stopped for command)" in capsys.readouterr().out
    assert not [line for line in port.written if b'"bench"' in line]


def test_a_board_that_does_not_answer_exits_3(key_file, capsys):
    code = bench.main(["board", "--port", "fake", "--key-file", key_file, "--timeout", "0.05"],
                      open_port=lambda name, baud: SilentSerial(None))
    assert code == pumpctl.EXIT_NO_ANSWER
    assert "no reply to auth within 0.05 s on fake: is the board connected" in capsys.readouterr().err


def test_a_wrong_key_ends_the_session(tmp_path, capsys):
    other = tmp_path / "other.key"
    other.write_text("11" * 32)
    pump = SimulatedPump()
    code, _port = on_board(pump, str(other), "motor_stall")
    assert code == pumpctl.EXIT_LINK
    err = capsys.readouterr().err
    assert "bad_mac" in err and "is --key-file this board's key?" in err
    assert pump.run.board.mechanism.stalled is False


# The firmware restarted after its designed reset (exit 70, boards/sim/realtime.py),
# as a board reboots: the pty stays, the pump comes back from its flash.
SUPERVISED = """#!/bin/sh
while :; do
    %s
    code=$?
    [ $code -eq 70 ] || exit $code
done
"""


def running_in(folder):
    """Pids of the processes whose working folder is `folder`."""
    pids = []
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and os.readlink("/proc/%s/cwd" % name) == str(folder):
                pids.append(int(name))
        except OSError:  # ended meanwhile, or not ours to read
            pass
    return pids


def ended(folder, wait_s=5):
    """The stand-in's processes (the shell and the firmware, which run in
    its board folder) that outlived its pty by wait_s, each then killed by
    its pid; [] when the pty's hang-up ended them all."""
    deadline = time.monotonic() + wait_s
    while running_in(folder) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = running_in(folder)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


@needs_socat
def test_board_session_against_the_firmware_on_a_micropython_stand_in(tmp_path, key_file, monkeypatch, capsys):
    """firmware/main.py's loop under the unix port on the real-time simulated
    board (60x), behind a pty: programmed with pumpctl, then every bench test
    run on it, the restart included."""
    root = tmp_path / "board_root"
    (root / "data").mkdir(parents=True)
    (root / "board.py").write_text("from boards.sim import build, kbd_intr, panic  # noqa: F401\n")
    (root / "sim.json").write_text('{"speed": 60}')
    (root / "device.key").write_text(HOST_KEY.hex())
    monkeypatch.setenv("MICROPYPATH", ":".join([str(root), os.path.join(mpenv.ROOT, "firmware"), mpenv.ROOT]))
    script = tmp_path / "supervised.sh"
    script.write_text(SUPERVISED % " ".join(mpenv.micropython_command("2M")
                                             + [os.path.join(mpenv.ROOT, "firmware", "main.py")]))
    try:
        with behind_pty("sh " + str(script), str(tmp_path / "tty"), cwd=str(root)) as port:
            link = ["--port", port, "--key-file", key_file, "--timeout", "10"]
            for visit in (["patient", "spinal", "--age-years", "45", "--days-since-implant", "200"],
                          ["refill", "--add-ml", "18", "--concentration", "500", "--confirm"],
                          ["set-prescription", "00:00=25"]):
                assert pumpctl.main(link + visit) == pumpctl.EXIT_OK, visit
            capsys.readouterr()
            code = bench.main(["board", *link, "--poll", "0.1", "--alarm-timeout", "60", "--json"])
            rows = json.loads(capsys.readouterr().out)["kinds"]
            assert pumpctl.main(link + ["--json", "status"]) == pumpctl.EXIT_OK
            status = json.loads(capsys.readouterr().out)
    finally:
        left = ended(root)
    assert left == [], "the stand-in outlived its pty: %s" % left
    assert code == 0, [(r["test"], r["problems"], r["note"]) for r in rows if r["result"] != "PASS"]
    assert [r["test"] for r in rows] == [name for name, _kind, _command, _args in benchboard.TESTS]
    assert {r["kind"] for r in rows} == set(KIND_NAMES)
    assert all(r["result"] == "PASS" and 0 <= r["alarm_after_s"] < 60 for r in rows)
    # the loop found at the third crash's boot: no reset before was counted as a crash
    assert [r["raised"] for r in rows if r["test"] == "crash_loop"] == [
        ["restart"] * 3 + ["crash_loop", "delivery_stopped"]]
    assert status["delivering"] and status["stopped_for"] == [] and status["alarms"] == []


# ------------------------------------------------------------------------ rig

def test_wiring_comes_from_role_pin_pairs_or_a_json_file(tmp_path):
    assert benchrig.parse_wiring("diag=D4, buzzer=C1") == {"diag": "D4", "buzzer": "C1"}
    path = tmp_path / "rig.json"
    path.write_text('{"pressure": "C0", "red": "C2"}')
    assert benchrig.parse_wiring(str(path)) == {"pressure": "C0", "red": "C2"}


@pytest.mark.parametrize("text, message", [("stall=D4", "unknown rig role stall"), ("diag", "expected ROLE=PIN")])
def test_bad_wiring_is_refused_with_the_reason(text, message):
    with pytest.raises(benchrig.RigError, match=message):
        benchrig.parse_wiring(text)


def test_a_pin_the_blinka_board_lacks_is_refused():
    with pytest.raises(benchrig.RigError, match="this Blinka board has no pin GP5"):
        benchrig.blinka_pins({"diag": "GP5"})


def rig(**roles):
    return benchrig.BenchRig(benchrig.blinka_pins(roles), digitalio)


def test_fault_lines_idle_as_inputs_and_drive_their_fault_level_when_injected():
    bench_rig = rig(diag="Dx_OUTPUT", pressure="Dx_OUTPUT")
    assert all(line.direction == digitalio.Direction.INPUT for line in bench_rig.lines.values())
    bench_rig.inject("motor_stall")
    bench_rig.inject("sensor_open")
    diag, pressure = bench_rig.lines["diag"], bench_rig.lines["pressure"]
    assert diag.direction == pressure.direction == digitalio.Direction.OUTPUT
    # the test board cannot read an output back; its pin keeps what was written
    assert (diag._pin.current_value, pressure._pin.current_value) == (1, 0)
    bench_rig.release("motor_stall")
    assert diag.direction == digitalio.Direction.INPUT
    bench_rig.close()


def test_a_rig_injects_only_the_faults_it_is_wired_for():
    bench_rig = rig(diag="Dx_OUTPUT", buzzer="Dx_INPUT_FALSE")
    assert bench_rig.can_inject("motor_stall")
    assert not bench_rig.can_inject("sensor_open") and not bench_rig.can_inject("empty_reservoir")
    bench_rig.close()


def test_observe_times_the_first_change_of_each_line_and_reports_its_resolution():
    bench_rig = rig(buzzer="Dx_INPUT_TOGGLE", red="Dx_INPUT_FALSE")
    injected = []
    seen = bench_rig.observe(lambda: injected.append(True), ["buzzer", "red"], timeout_s=0.05)
    assert injected == [True]
    assert 0 < seen.first_change_s["buzzer"] <= seen.resolution_s + 0.001  # seen on the first read
    assert seen.first_change_s["red"] is None and seen.reads > 2
    assert seen.burst_pulses() is None  # a line that never falls quiet is no finished burst
    bench_rig.close()


def sampled(pattern_ms, carrier_ms=None, sample_ms=1):
    """(t_ns, level) changes of a buzzer line playing pattern_ms (ON, OFF, ...)
    once, then quiet for 3 s, read every sample_ms; with carrier_ms the ON
    parts are a square wave of that half period, as a PWM seen by polling."""
    edges, t = [], 0
    for i, length in enumerate(pattern_ms):
        edges.append((t, t + length, i % 2 == 0))
        t += length
    changes, last = [(0, False)], False
    for ms in range(0, t + 3000, sample_ms):
        level = any(start <= ms < end and on for start, end, on in edges)
        if level and carrier_ms:
            level = (ms // carrier_ms) % 2 == 0
        if level != last:
            changes.append((ms * 1_000_000, level))
            last = level
    return changes


def observation(changes):
    return benchrig.Observation({}, changes, changes[-1][0] + 5_000_000_000, 0.001, len(changes))


@pytest.mark.parametrize("pattern, pulses", [(TONE_HIGH_MS, 10), (TONE_MEDIUM_MS, 3)])
def test_pulses_in_a_burst_are_counted_from_the_line(pattern, pulses):
    assert observation(sampled(pattern)).burst_pulses() == pulses
    assert observation(sampled(pattern, carrier_ms=3)).burst_pulses() == pulses


def test_a_burst_still_sounding_when_the_watch_ends_is_not_counted():
    changes = sampled(TONE_HIGH_MS)
    cut = benchrig.Observation({}, changes, changes[-1][0] + 1_000_000_000, 0.001, len(changes))
    assert cut.burst_pulses() is None


def test_board_with_a_rig_times_the_alarm_on_its_lines(key_file, capsys, monkeypatch):
    """Protocol-injected stall, lines watched on the test board: a toggling
    line changes at once, a line that stays low is reported as never lit."""
    monkeypatch.setattr(benchboard, "open_rig", lambda text: rig(**benchrig.parse_wiring(text)))
    pump = SimulatedPump(step_ms=120_000)
    code, _port = on_board(pump, key_file, "--json", "--alarm-timeout", "0.2",
                           "--rig", "buzzer=Dx_INPUT_TOGGLE,red=Dx_INPUT_FALSE", "motor_stall")
    row = json.loads(capsys.readouterr().out)["kinds"][0]
    assert code == benchplan.EXIT_FAIL
    assert row["timed_by"] == "buzzer line" and 0 < row["alarm_after_s"] <= row["resolution_s"] + 0.001
    assert row["priority"] == "high" and row["burst_pulses"] is None
    assert row["problems"] == ["no change on the red line within 0.2 s"]
    assert pump.run.ctl.delivering


def test_board_plot_draws_the_session_from_the_pump_event_log(key_file, tmp_path, capsys):
    import sessionplot
    pump = SimulatedPump()
    png = tmp_path / "session.png"
    code, _port = on_board(pump, key_file, "--json", "--plot", str(png), "motor_stall", "delivery_stopped")
    assert code == 0, capsys.readouterr()
    assert png.read_bytes()[:4] == b"\x89PNG"
    # what the picture is drawn from: the session's own entries, each alarm raised and cleared
    entries = sessionplot.entries_after(FakeSerial(pump), 2.0, 0)
    bands = sessionplot.alarm_bands(entries, sessionplot._minutes(entries))
    kinds = [kind for kind, _raised, cleared, _acks in bands if cleared is not None]
    assert "motor_stall" in kinds and "delivery_stopped" in kinds
