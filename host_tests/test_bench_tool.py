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
from pump.alarms import TONE_HIGH_MS, TONE_MEDIUM_MS  # noqa: E402
from scenario import normalise  # noqa: E402
from test_pumpctl import FakeSerial, Pump, SilentSerial  # noqa: E402
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
    assert not set(benchboard.INJECTIONS) & set(benchboard.NOT_INJECTABLE)
    assert set(benchboard.INJECTIONS) | set(benchboard.NOT_INJECTABLE) == set(KIND_NAMES)


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


@pytest.mark.parametrize("kind, injected_by", [
    ("motor_stall", "bench stall"), ("occlusion", "bench pressure ramp"), ("delivery_stopped", "stop command")])
def test_board_injects_times_and_undoes_each_fault_it_can_inject(kind, injected_by, key_file, capsys):
    pump = SimulatedPump()
    code, _port = on_board(pump, key_file, "--json", kind)
    row = json.loads(capsys.readouterr().out)["kinds"][0]
    assert code == 0, row
    assert (row["result"], row["injected_by"]) == ("PASS", injected_by)
    assert row["priority"] == benchplan.EXPECTED_PRIORITY[kind]
    assert row["timed_by"] == "alarms poll" and row["alarm_after_s"] >= row["resolution_s"] >= 0
    assert row["delivery_stopped"] is True
    assert pump.run.ctl.delivering and row["note"] is None
    assert pump.run.board.mechanism.stalled is False and pump.run.board.mechanism.forced_mpsi is None


def test_occlusion_ramp_raises_the_pressure_with_the_volume_pushed(key_file, capsys):
    pump = SimulatedPump()
    port = FakeSerial(pump)
    on_board_lines = []
    original = pump.handle_line

    def recording(line, now_s):
        on_board_lines.append(line)
        return original(line, now_s)

    pump.handle_line = recording
    bench.main(["board", "--port", "fake", "--key-file", key_file, "--poll", "0", "occlusion"],
               open_port=lambda name, baud: port)
    pressures = [json.loads(line.split(b" ", 1)[1])["args"].get("mpsi") for line in on_board_lines
                 if b'"cmd":"bench"' in line]
    ramp = [p for p in pressures if p is not None]
    # from rest (plus what went out since the status read before it), rising past the 2 psi alarm excess;
    # once the pump stops it takes back the steps it had queued, and the reading falls with them
    # (status gives remaining_ml to the uL, so those few steps can read as 1 uL)
    assert benchboard.RESTING_MPSI <= ramp[0] <= benchboard.RESTING_MPSI + 1000
    peak = ramp.index(max(ramp))
    assert ramp[:peak + 1] == sorted(ramp[:peak + 1]) and ramp[peak] >= ramp[0] + 2000
    assert pressures[-1] is None  # then cleared


def test_empty_reservoir_runs_last_and_leaves_delivery_to_a_refill(key_file, capsys):
    pump = SimulatedPump()
    code, _port = on_board(pump, key_file, "--json", "empty_reservoir", "motor_stall")
    rows = json.loads(capsys.readouterr().out)["kinds"]
    assert code == 0
    assert [r["kind"] for r in rows] == ["motor_stall", "empty_reservoir"]
    assert rows[1]["result"] == "PASS"
    assert rows[1]["note"] == "delivery stays stopped for empty_reservoir: record a refill to resume"
    assert not pump.run.ctl.delivering


def test_kinds_the_protocol_cannot_inject_are_skipped_with_the_reason(key_file, capsys):
    code, port = on_board(SimulatedPump(), key_file, "low_battery", "restart")
    out = capsys.readouterr().out
    assert code == 0
    assert "low_battery: not injectable over the protocol: bring VSYS below 3.5 V with a bench supply" in out
    assert "restart: not injectable over the protocol: cut the board's power" in out
    assert not [line for line in port.written if b"bench" in line or b"stop" in line]


def test_a_pump_that_is_not_delivering_is_not_injected(key_file, capsys):
    pump = SimulatedPump()
    pump.run.line(pump.run.sign({"cmd": "stop", "args": {"reason": "held"}}))
    code, port = on_board(pump, key_file, "motor_stall")
    assert code == 0
    assert "the pump is not delivering (stopped for command)" in capsys.readouterr().out
    assert not [line for line in port.written if b'"bench"' in line]


def test_bench_mode_off_is_a_clear_error(key_file, capsys):
    pump = Pump(bench=False)
    code = bench.main(["board", "--port", "fake", "--key-file", key_file, "motor_stall"],
                      open_port=lambda name, baud: pump.serial)
    assert code == pumpctl.EXIT_LINK
    assert "bench mode is off: fit the BENCH-ENABLE jumper" in capsys.readouterr().err
    assert pump.handler.calls == []


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


@needs_socat
def test_board_session_against_the_firmware_on_a_micropython_stand_in(tmp_path, key_file, monkeypatch, capsys):
    """firmware/main.py's loop under the unix port on the real-time simulated
    board (60x), behind a pty: programmed with pumpctl, then benched."""
    root = tmp_path / "board_root"
    (root / "data").mkdir(parents=True)
    (root / "board.py").write_text("from boards.sim import build  # noqa: F401\n")
    (root / "sim.json").write_text('{"speed": 60}')
    (root / "device.key").write_text(HOST_KEY.hex())
    monkeypatch.setenv("MICROPYPATH", ":".join([str(root), os.path.join(mpenv.ROOT, "firmware"), mpenv.ROOT]))
    command = " ".join(mpenv.micropython_command("2M") + [os.path.join(mpenv.ROOT, "firmware", "main.py")])
    with behind_pty(command, str(tmp_path / "tty"), cwd=str(root)) as port:
        link = ["--port", port, "--key-file", key_file, "--timeout", "10"]
        for visit in (["patient", "spinal", "--age-years", "45", "--days-since-implant", "200"],
                      ["refill", "--add-ml", "18", "--concentration", "500", "--confirm"],
                      ["set-prescription", "00:00=25"]):
            assert pumpctl.main(link + visit) == pumpctl.EXIT_OK, visit
        capsys.readouterr()
        code = bench.main(["board", *link, "--poll", "0.1", "--alarm-timeout", "60", "--json",
                           "motor_stall", "delivery_stopped"])
        rows = json.loads(capsys.readouterr().out)["kinds"]
        assert pumpctl.main(link + ["--json", "status"]) == pumpctl.EXIT_OK
        status = json.loads(capsys.readouterr().out)
    assert code == 0, rows
    assert [(r["kind"], r["result"], r["priority"]) for r in rows] == [
        ("motor_stall", "PASS", "high"), ("delivery_stopped", "PASS", "medium")]
    assert all(0 <= r["alarm_after_s"] < 60 for r in rows)
    assert status["delivering"] and status["stopped_for"] == []


# ------------------------------------------------------------------------ rig

def test_wiring_comes_from_role_pin_pairs_or_a_json_file(tmp_path):
    assert benchrig.parse_wiring("diag=D4, buzzer=C1") == {"diag": "D4", "buzzer": "C1"}
    path = tmp_path / "rig.json"
    path.write_text('{"end_of_travel": "C0", "red": "C2"}')
    assert benchrig.parse_wiring(str(path)) == {"end_of_travel": "C0", "red": "C2"}


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
    bench_rig = rig(diag="Dx_OUTPUT", end_of_travel="Dx_OUTPUT")
    assert all(line.direction == digitalio.Direction.INPUT for line in bench_rig.lines.values())
    bench_rig.inject("motor_stall")
    bench_rig.inject("empty_reservoir")
    diag, end = bench_rig.lines["diag"], bench_rig.lines["end_of_travel"]
    assert diag.direction == end.direction == digitalio.Direction.OUTPUT
    # the test board cannot read an output back; its pin keeps what was written
    assert (diag._pin.current_value, end._pin.current_value) == (1, 0)
    bench_rig.release("motor_stall")
    assert diag.direction == digitalio.Direction.INPUT
    bench_rig.close()


def test_a_rig_injects_only_the_faults_it_is_wired_for():
    bench_rig = rig(diag="Dx_OUTPUT", buzzer="Dx_INPUT_FALSE")
    assert bench_rig.can_inject("motor_stall")
    assert not bench_rig.can_inject("empty_reservoir") and not bench_rig.can_inject("occlusion")
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


def test_observe_calls_the_tick_while_it_waits():
    bench_rig = rig(red="Dx_INPUT_FALSE")
    ticks = []
    bench_rig.observe(lambda: None, ["red"], timeout_s=0.05, tick=lambda: ticks.append(1), tick_s=0.01)
    assert 2 <= len(ticks) <= 6
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
