"""firmware/main.py on the reference board, mocked: it boots, is programmed over USB serial, delivers.

Everything from main.py down is the real code: the board's build(), every
driver in hw/, the pump logic. Under it are fake_machine's `machine` and
fake_rp2, whose PIO emulator runs the stepper's own PIO program, so a STEP
edge counted here is one the TMC2209 would have seen. `import board` in
main.py gets a stand-in module whose build() is the rig's boot: the board's
real build() with its files (device key, calibration, /data) in a temporary
folder and its USB console on fake streams. The host end of that console
frames lines with tools/pumplink.encode_line, as pumpctl does.

Fake time only moves when the loop sleeps, so a command is handled at the
instant its line is read, and half an hour of pumping (its 90 000 sleep
slices included) runs in a fraction of a second.
"""
import bisect
import contextlib
import importlib
import json
import os
import random
import sys
import types
from fractions import Fraction
from unittest import mock

import pytest

import fake_machine
from hw.watchdog import TIMEOUT_MS
from pump.schema import needs_mac
from pumplink import encode_line
from test_drivers_board import KEY_HEX, Rig

STEP, DIR, EN = 2, 3, 4     # GP2, GP3, GP4 (EN active low): docs/DESIGN.md, section 3
BUZZER, LAMP_RED = 15, 16
PRESSURE_CHANNEL = 0        # ADC0: the line pressure transducer
RTC_ADDRESS = 0x68
KEY = bytes.fromhex(KEY_HEX)
HOUR_MS = 3_600_000
REPLY_WAIT_MS = 1_000       # a reply later than this is no reply
STEPS_PER_ML = 12_732       # the board's nominal calibration (no calibration file in the rig)


class Visit:
    """A first programming visit: a patient, a refill, the reservoir warning,
    and one flat rate, as a clinician sends them."""

    def __init__(self, rate_mcg_per_h, concentration_mcg_per_ml, origin="spinal"):
        self.rate_mcg_per_h = rate_mcg_per_h
        self.concentration_mcg_per_ml = concentration_mcg_per_ml
        self.origin = origin

    def commands(self):
        return (
            ("patient", {"origin": self.origin, "age_years": 40, "days_since_implant": 300}),
            ("refill", {"add_ml": 18, "concentration_mcg_per_ml": self.concentration_mcg_per_ml,
                        "confirm": True}),
            ("settings", {"low_reservoir_ml": 2, "low_reservoir_days": 7}),
            ("set_prescription", {"steps": [{"start": "00:00", "mcg_per_h": self.rate_mcg_per_h}]}),
        )

    def ideal_steps(self, elapsed_us):
        """Steps the prescription asks for in `elapsed_us` of delivery, exactly:
        mcg/h over mcg/mL is mL/h, times steps per mL, times hours elapsed."""
        return Fraction(self.rate_mcg_per_h * STEPS_PER_ML * elapsed_us,
                        self.concentration_mcg_per_ml * HOUR_MS * 1000)


# 720 mcg/day at 500 mcg/mL (spinal, the monograph's usual range): a step
# every 4.7 s. The controller keeps the steps of the next minute queued, so
# the driver stays enabled throughout.
USUAL = Visit(30, 500)
# 96 mcg/day at 2000 mcg/mL (cerebral, near its soft minimum): a step every
# 141 s, so the queue runs dry after each step and the driver goes idle.
SLOW = Visit(4, 2000, origin="cerebral")


class Hung(BaseException):
    """Raised by a test's guard when the loop runs past its fake-time budget.
    Not an Exception, so main()'s last line of defence cannot swallow it."""


class Pump:
    """main.py on the rig's board, and the host at the other end of its USB serial."""

    def __init__(self, rig, main):
        self.rig = rig
        self.hw = rig.hw
        self.main = main
        self.board = self.ctl = self.commands = None
        self.ctr = 0

    def boot(self):
        self.board = self.rig.boot()
        self.ctl, self.commands = self.main.start(self.board)

    def serve_until(self, done):
        self.main.serve(self.board, self.ctl, self.commands, done)

    def serve_for(self, ms, watch=None):
        """Run the loop for `ms` of fake time; `watch(board)` sees every pass."""
        end_us = self.hw.now_us + ms * 1000

        def done(board):
            if watch is not None:
                watch(board)
            return self.hw.now_us >= end_us
        self.serve_until(done)

    def frame(self, name, args=None):
        """The line the host sends: authenticated, with a fresh counter, when
        the command changes the pump."""
        if needs_mac(name):
            self.ctr += 1
            return encode_line(name, args, KEY, self.ctr)
        return encode_line(name, args)

    def ask(self, name, args=None):
        """Send one command; run the loop until its reply line; the reply."""
        written = self.rig.stdout.written
        before = len(written)
        deadline_us = self.hw.now_us + REPLY_WAIT_MS * 1000
        self.rig.stdin.feed(self.frame(name, args))
        self.serve_until(lambda _board: written.endswith(b"\n") and len(written) > before
                         or self.hw.now_us >= deadline_us)
        assert len(written) > before, "no reply to %s" % name
        return json.loads(bytes(written[before:]))

    def program(self, visit):
        """Delivery starts with the last reply."""
        for name, args in visit.commands():
            reply = self.ask(name, args)
            assert reply["ok"], reply


@contextlib.contextmanager
def flashed(rig):
    """firmware/main.py imported as the board runs it, `import board` being the rig's board."""
    saved = {name: sys.modules.pop(name, None) for name in ("board", "main")}
    sys.modules["board"] = types.SimpleNamespace(build=rig.boot, panic=mock.Mock(side_effect=SystemExit("panic")),
                                                 kbd_intr=rig.hw.load("boards.refpump_rp2040").kbd_intr)
    try:
        yield importlib.import_module("main")
    finally:
        for name, module in saved.items():
            sys.modules.pop(name, None)
            if module is not None:
                sys.modules[name] = module


def open_line_pressure_u16(seed=1):
    """ADC0 on an open line: a steady transducer output with its noise.

    The noise matters: a reading that repeats exactly, wake after wake, is a
    stuck sensor (pump.occlusion.SensorMonitor), which a real transducer's
    noise never looks like. About 50 counts is 30 mpsi, the reference
    catheter's figure; the board averages 16 reads per reading."""
    noise = random.Random(seed)
    return lambda: round(noise.gauss(6_800, 50))


@pytest.fixture
def pump(tmp_path, monkeypatch):
    # hw.flashfs syncs after each record, as LittleFS on the board needs; on
    # the host os.sync would flush every disk of the machine, every save.
    monkeypatch.setattr(os, "sync", lambda: None)
    with fake_machine.installed() as hw:
        rig = Rig(hw, tmp_path)
        hw.adc[PRESSURE_CHANNEL] = open_line_pressure_u16()
        rig.write("device.key", KEY_HEX + "\n")
        with flashed(rig) as main:
            yield Pump(rig, main)


class Delivery:
    """The pump programmed, then left to run (half an hour: three of the
    controller's ten-minute authorisation windows): what its pins and the
    loop saw."""

    def __init__(self, pump, visit=USUAL, minutes=30):
        self.hw = hw = pump.hw
        self.visit = visit
        self.enable_while_idle = hw.pin(EN).value()
        pump.program(visit)
        self.start_us = hw.now_us
        self.enable_mismatches = []   # (t_us, pending) of loop passes where EN disagreed
        pump.serve_for(minutes * 60_000, watch=self._check_enable)
        self.end_us = hw.now_us
        self.steps_us = hw.pin(STEP).rising_edges_us()

    def steps_off_ideal(self, at_us):
        """Steps emitted by `at_us` minus the ideal count then."""
        return bisect.bisect_right(self.steps_us, at_us) - self.visit.ideal_steps(at_us - self.start_us)

    def _check_enable(self, board):
        pending = board.stepper.pending()
        if (self.hw.pin(EN).value() == 0) != (pending > 0):
            self.enable_mismatches.append((self.hw.now_us, pending))


# ------------------------------------------------------------------ boot

def test_on_an_empty_flash_it_boots_without_alarms_and_answers_status(pump):
    (pump.rig.tmp_path / "data").mkdir()
    pump.boot()
    pump.serve_for(15 * 60_000)     # past every debounce: more readings than STUCK_SAMPLES
    reply = pump.ask("status")
    assert reply["ok"] is True
    assert reply["alarms"] == [] and reply["startup_faults"] == []
    assert reply["delivering"] is False and reply["stopped_for"] == []
    assert reply["time"] == pump.rig.rtc.now().strftime("%Y-%m-%dT%H:%M:%S")


# -------------------------------------------------------------- delivery

def test_programmed_over_serial_it_keeps_within_one_step_of_the_ideal_dose(pump):
    pump.boot()
    run = Delivery(pump)
    assert run.steps_us and run.steps_us[0] > run.start_us
    for at_us in run.steps_us + [run.end_us]:
        assert abs(run.steps_off_ideal(at_us)) <= 1, at_us
    assert len(run.steps_us) in (381, 382)   # 0.06 mL/h at 12 732 steps/mL: 381.96 in half an hour


def test_delivery_on_healthy_hardware_raises_no_alarm(pump):
    pump.boot()
    Delivery(pump)
    status = pump.ask("status")
    assert status["delivering"] is True
    assert status["alarms"] == []


def test_every_step_goes_out_with_dir_at_the_forward_level(pump):
    pump.boot()
    run = Delivery(pump)
    forward = pump.rig.config.FORWARD_DIR_LEVEL
    assert run.steps_us
    assert {pump.hw.pin(DIR).level_before(t) for t in run.steps_us} == {forward}


# steps more than 3 s apart are queued one at a time, so EN is released
# between them (pump.controller EN_IDLE_MS): 30 mcg/h of 500 is one in 4.7 s
@pytest.mark.parametrize("visit, idles", [(USUAL, True), (SLOW, True)],
                         ids=["usual_rate_idle_between_steps", "slow_rate_idle_between_steps"])
def test_enable_is_asserted_exactly_while_pulses_are_pending(pump, visit, idles):
    pump.boot()
    run = Delivery(pump, visit)
    releases_us = [t for t in pump.hw.pin(EN).rising_edges_us() if t > run.start_us]
    assert bool(releases_us) == idles
    assert run.enable_while_idle == 1                       # nothing to do yet: driver off
    assert run.enable_mismatches == []                      # at every pass of the loop
    # and no step was sent to a disabled driver
    assert {pump.hw.pin(EN).level_before(t) for t in run.steps_us} == {0}


def test_enable_is_released_when_delivery_stops_and_no_step_follows(pump):
    pump.boot()
    run = Delivery(pump, minutes=6)
    enable = pump.hw.pin(EN)
    assert pump.ask("stop", {"reason": "end of the bench run"})["ok"] is True
    stopped_us = pump.hw.now_us
    assert enable.value() == 1 and pump.board.stepper.pending() == 0
    pump.serve_for(10 * 60_000)
    assert pump.hw.pin(STEP).rising_edges_us() == run.steps_us
    assert [level for t, level in enable.history if t > stopped_us] == []  # never asserted again


def test_the_loop_feeds_the_watchdog_within_its_timeout_throughout(pump):
    pump.boot()
    run = Delivery(pump)
    wdt = pump.hw.wdt
    assert wdt.feeds > (run.end_us - run.start_us) // 1000 // wdt.timeout_ms
    assert wdt.longest_gap_ms() < TIMEOUT_MS


# ----------------------------------------------------------------- crash

def test_a_crash_in_the_loop_is_logged_and_the_board_resets(pump):
    """main() itself (build, restore, serve), with advance() failing once
    delivery has started; then the boot that follows the reset."""
    real_advance = pump.main.Controller.advance
    budget_us = pump.hw.now_us + HOUR_MS * 1000
    crashes = []

    def advance_crashing_once(ctl, day, ms):
        if ctl.delivering and not crashes:
            crashes.append(ms)
            raise MemoryError("no 2 kB block left in a fragmented heap")
        if pump.hw.now_us > budget_us:
            raise Hung("delivery never started, so the loop never crashed")
        return real_advance(ctl, day, ms)

    for name, args in USUAL.commands():   # typed ahead: main() reads them once it serves
        pump.rig.stdin.feed(pump.frame(name, args))
    with mock.patch.object(pump.main.Controller, "advance", advance_crashing_once):
        pump.main.main()         # returns only because the fake machine.reset does
    assert crashes
    pump.hw.machine.reset.assert_called_once_with()

    pump.boot()                  # what the board does after the reset
    entries = pump.ask("log", {"n": 50})["entries"]
    assert [entry["detail"] for entry in entries if entry["event"] == "crash"] == ["MemoryError"]


# ------------------------------------------------------- start-up faults

def test_a_missing_ds3231_comes_up_as_the_clock_fault_alarm_at_boot(pump):
    del pump.hw.i2c_devices[RTC_ADDRESS]
    pump.boot()
    reply = pump.ask("status")
    assert reply["alarms"] == ["clock_fault"]
    assert len(reply["startup_faults"]) == 1


def test_a_clock_fault_does_not_stop_delivery(pump):
    del pump.hw.i2c_devices[RTC_ADDRESS]
    pump.boot()
    run = Delivery(pump, minutes=15)
    status = pump.ask("status")
    assert status["delivering"] is True and status["stopped_for"] == []
    assert status["alarms"] == ["clock_fault"]
    assert abs(run.steps_off_ideal(run.end_us)) <= 1


def test_a_crash_while_starting_sounds_the_high_alarm_and_stays_safe_without_a_reset_loop(pump, monkeypatch):
    """Restoring the pump fails (here: no memory for the controller): there is
    no dose to resume, so nothing may step; the board must say so loudly and
    keep the watchdog fed rather than reboot into the same failure forever."""
    real_fail_safe = pump.main.fail_safe
    stop_us = pump.hw.now_us + 30_000 * 1000
    resets = set()

    def thirty_seconds(_board):
        resets.add(pump.hw.machine.reset.call_count)
        return pump.hw.now_us >= stop_us
    monkeypatch.setattr(pump.main, "fail_safe", lambda board: real_fail_safe(board, until=thirty_seconds))
    with mock.patch.object(pump.main, "Controller", side_effect=MemoryError("heap")):
        pump.main.main()  # returns only because the test ended fail_safe (and the fake reset returns)
    assert resets == {0}  # no reset while in fail_safe: no boot loop
    assert pump.hw.pin(STEP).rising_edges_us() == []
    assert pump.hw.wdt.longest_gap_ms() < TIMEOUT_MS
    buzzer_on = [t for t, duty in pump.hw.pwms[BUZZER].history if duty]
    red_on = [t for t, level in pump.hw.pin(LAMP_RED).history if level]
    assert len(buzzer_on) >= 10 and len(red_on) >= 10  # the high pattern, repeated


def test_a_board_that_cannot_even_be_built_is_left_to_the_boards_panic(pump, monkeypatch):
    monkeypatch.setattr(pump.rig, "boot", mock.Mock(side_effect=OSError("I2C bus stuck")))
    board_module = sys.modules["board"]
    board_module.build = pump.rig.boot
    with pytest.raises(SystemExit):
        pump.main.main()
    board_module.panic.assert_called_once_with()
    assert pump.hw.machine.reset.call_count == 0


def test_the_reference_boards_panic_sounds_lights_and_keeps_the_watchdog_fed(pump):
    panic = pump.hw.load("boards.refpump_rp2040").panic
    naps = []

    def nap(ms):
        naps.append(ms)
        if len(naps) == 3:
            raise StopIteration  # panic() never returns by itself
    with mock.patch("time.sleep_ms", nap):
        with pytest.raises(StopIteration):
            panic()
    assert pump.hw.pin(LAMP_RED).value() == 1 and pump.hw.pin(EN).value() == 1
    assert pump.hw.pwms[BUZZER].duty > 0 and pump.hw.wdt.feeds >= 3
