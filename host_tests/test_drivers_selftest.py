"""hw.selftest: the bring-up self-test on a booted (fake) board."""
import random

import pytest

import fake_machine
from pump import alarms
from test_drivers_board import HEALTHY_PRESSURE_U16, Rig

STEP, EN, DIAG, HOME, BUZZER, BENCH = 2, 4, 5, 7, 15, 21
PATTERNS = [("high", alarms.TONE_HIGH_MS), ("medium", alarms.TONE_MEDIUM_MS), ("low", alarms.TONE_NONE_MS)]


@pytest.fixture
def rig(tmp_path):
    with fake_machine.installed() as hw:
        yield Rig(hw, tmp_path)


def noisy_pressure_u16(seed=1):
    """ADC0 on a healthy transducer: about 3 LSB of the 12-bit converter's noise."""
    noise = random.Random(seed)
    return lambda: round(noise.gauss(6_800, 50))


def run(rig, bench=True):
    rig.hw.drive(BENCH, 0 if bench else 1)
    board = rig.boot()
    results = rig.hw.load("hw.selftest").run(board, PATTERNS)
    return board, {item: (status, detail) for item, status, detail in results}


def test_a_healthy_bench_board_passes_every_item(rig):
    rig.hw.adc[0] = noisy_pressure_u16()
    _board, results = run(rig)
    assert {item: status for item, (status, _) in results.items()} == {
        "motor reverse": "pass", "motor forward": "pass", "pressure": "pass", "pressure noise": "pass",
        "limit switches": "pass", "supply": "pass", "temperature": "pass", "clock": "pass",
        "buzzer high": "pass", "buzzer medium": "pass", "buzzer low": "skip",
        "lamp red": "pass", "lamp yellow": "pass", "lamp green": "pass"}


def test_a_pressure_reading_without_noise_fails_the_noise_item(rig):
    """An ADC that repeats its reading exactly would look stuck to the pump."""
    rig.hw.adc[0] = HEALTHY_PRESSURE_U16  # the same value at every read
    _board, results = run(rig)
    assert results["pressure"][0] == "pass"
    assert results["pressure noise"][0] == "fail"
    assert results["pressure noise"][1].startswith("255 of 256 readings repeated the one before")


def test_the_motor_goes_back_where_it_started_with_enable_released(rig):
    board, _ = run(rig)
    assert len(rig.hw.pin(STEP).rising_edges_us()) == 64
    assert board.stepper.emitted == 0 and rig.hw.pin(EN).value() == 1


def test_the_motor_goes_away_from_the_home_switch_first(rig):
    rig.hw.drive(HOME, 1)  # the plunger is home: the switch's contact is open
    _board, results = run(rig)
    assert results["motor forward"][0] == "pass"
    assert results["motor reverse"][0] == "fail"   # back onto the reached switch: refused


def test_without_the_bench_jumper_the_motor_never_moves(rig):
    _board, results = run(rig, bench=False)
    assert results["motor forward"][0] == results["motor reverse"][0] == "skip"
    assert rig.hw.pin(STEP).rising_edges_us() == []


def test_a_diag_signal_fails_the_motor_item(rig):
    rig.hw.drive(DIAG, 1)
    _board, results = run(rig)
    assert results["motor reverse"][0] == "fail" and "DIAG" in results["motor reverse"][1]


def test_an_open_pressure_sensor_and_a_missing_clock_fail_their_items(rig):
    rig.hw.adc[0] = 0
    del rig.hw.i2c_devices[0x68]
    _board, results = run(rig)
    assert results["pressure"][0] == "fail" and "open circuit" in results["pressure"][1]
    assert results["clock"][0] == "fail"


def test_each_alarm_pattern_sounds_and_the_buzzer_ends_silent(rig):
    run(rig)
    tones = [duty for _t, duty in rig.hw.pwms[BUZZER].history if duty]
    assert len(tones) == 10 + 3
    assert rig.hw.pwms[BUZZER].duty_u16() == 0


def test_the_self_test_keeps_feeding_the_watchdog(rig):
    rig.hw.drive(BENCH, 0)
    board = rig.boot()   # (its wait for the DS3231's second edge is bounded at 1.5 s, hw.wallclock)
    board.watchdog.feed()
    rig.hw.wdt.longest_gap_us = 0
    rig.hw.load("hw.selftest").run(board, PATTERNS)
    assert rig.hw.wdt.longest_gap_ms() < 100
