"""boards/refpump_rp2040: build() (hw/pumpboard.py) wires the drivers to its pins.

Each test boots the board on the fake machine with its files (calibration,
device key, /data) in a temporary folder and the USB console faked.
"""
import datetime
import json
import types
from array import array
from unittest import mock

import pytest

import fake_devices
import fake_machine
from hw.watchdog import MARGIN_MS, TIMEOUT_MS

STEP, END_OF_TRAVEL, HOME, ACK, BENCH = 2, 6, 7, 20, 21
HEALTHY_PRESSURE_U16 = 6_800
KEY_HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


class Rig:
    """A fake machine with the board's world around it, ready to boot the
    board package `package` (the reference board unless told)."""

    def __init__(self, hw, tmp_path, package="boards.refpump_rp2040"):
        self.hw = hw
        self.package = package
        self.tmp_path = tmp_path
        self.stdin = fake_machine.UsbConsole()
        self.stdout = fake_devices.FakeStream()
        self.rtc = fake_devices.FakeDS3231(hw, datetime.datetime(2026, 3, 2, 8, 0, 0))
        hw.i2c_devices[0x68] = self.rtc
        hw.adc.update({0: HEALTHY_PRESSURE_U16, 3: 30_000, 4: 14_021})
        hw.drive(END_OF_TRAVEL, 0)  # both normally-closed limit switches closed: mid-travel
        hw.drive(HOME, 0)
        self.config = hw.load(package + ".config")

    def write(self, name, text):
        (self.tmp_path / name).write_text(text)

    def boot(self, **config):
        settings = dict(CALIBRATION_PATH=str(self.tmp_path / "calibration.json"),
                        DEVICE_KEY_PATH=str(self.tmp_path / "device.key"),
                        DATA_DIR=str(self.tmp_path / "data"))
        settings.update(config)
        with mock.patch.multiple(self.config, **settings), \
                mock.patch("sys.stdin", types.SimpleNamespace(buffer=self.stdin)), \
                mock.patch("sys.stdout", types.SimpleNamespace(buffer=self.stdout)), \
                mock.patch("select.poll", fake_devices.FakePoll):
            return self.hw.load(self.package).build()


@pytest.fixture
def rig(tmp_path):
    with fake_machine.installed() as hw:
        yield Rig(hw, tmp_path)


def test_a_healthy_board_boots_without_start_up_faults(rig):
    rig.write("device.key", KEY_HEX + "\n")
    board = rig.boot()
    assert board.startup_faults == []
    assert board.clock.valid()
    assert board.device_key == bytes.fromhex(KEY_HEX)
    assert (rig.tmp_path / "data").is_dir()


def test_the_board_reads_its_sensors_through_the_pins_of_the_pin_map(rig):
    board = rig.boot()
    assert board.supply_mv() == 30_000 * 9_900 // 65_535
    assert abs(board.temperature_mc() - 27_000) <= 30
    assert 0 < board.pressure.read_mpsi() < 1_000
    day, ms = board.clock.now()  # the boot waited for the DS3231's next second (hw.wallclock)
    assert day == 9_557 and 8 * 3_600_000 + 1000 <= ms <= 8 * 3_600_000 + 1002


def test_a_missing_ds3231_is_reported_and_the_board_still_boots(rig):
    del rig.hw.i2c_devices[0x68]
    board = rig.boot()
    assert [kind for kind, _ in board.startup_faults] == ["clock_fault"]
    assert not board.clock.valid()


def test_an_open_circuit_pressure_sensor_at_boot_is_reported(rig):
    rig.hw.adc[0] = 0
    board = rig.boot()
    assert [kind for kind, _ in board.startup_faults] == ["pressure_sensor_fault"]


def test_without_a_calibration_file_the_nominal_calibration_is_used(rig):
    board = rig.boot()
    assert board.calibration == rig.config.DEFAULT_CALIBRATION
    assert board.calibration["steps_per_ml"] == 12_732


def test_the_calibration_file_on_the_board_overrides_the_defaults(rig):
    rig.write("calibration.json", json.dumps({"steps_per_ml": 12_810, "pressure_zero_u16": 6_500}))
    board = rig.boot()
    assert board.calibration["steps_per_ml"] == 12_810
    assert board.calibration["capacity_nl"] == 20_000_000
    assert board.startup_faults == []


@pytest.mark.parametrize("text, why", [
    ("{not json", ""),
    ('{"steps_per_ml": 1273}', "outside"),
    ('{"steps_per_ml": 12732.5}', "integer"),
    ('{"steps_per_ml": true}', "integer"),
    ('{"stepsperml": 12732}', "unknown"),
    ('[12732]', "object"),
])
def test_a_bad_calibration_file_is_refused_whole_and_reported(rig, text, why):
    rig.write("calibration.json", text)
    board = rig.boot()
    assert board.calibration == rig.config.DEFAULT_CALIBRATION
    [(kind, detail)] = board.startup_faults
    assert kind == "storage_fault" and why in detail


def test_every_default_calibration_value_lies_within_its_limits(rig):
    config = rig.config
    assert set(config.DEFAULT_CALIBRATION) == set(config.CALIBRATION_LIMITS)
    for key, value in config.DEFAULT_CALIBRATION.items():
        low, high = config.CALIBRATION_LIMITS[key]
        assert low <= value <= high, key


@pytest.mark.parametrize("text", ["00112233", "zz" * 32, KEY_HEX + "00"])
def test_a_malformed_device_key_is_reported_and_not_used(rig, text):
    rig.write("device.key", text)
    board = rig.boot()
    assert board.device_key is None
    assert [kind for kind, _ in board.startup_faults] == ["storage_fault"]


def test_an_unprovisioned_board_has_no_device_key_and_no_fault(rig):
    board = rig.boot()
    assert board.device_key is None and board.startup_faults == []


@pytest.mark.parametrize("jumper_level, bench", [(0, True), (1, False)])
def test_bench_mode_is_the_jumper_read_once_at_boot(rig, jumper_level, bench):
    rig.hw.drive(BENCH, jumper_level)
    board = rig.boot()
    rig.hw.drive(BENCH, 1 - jumper_level)
    assert board.bench_enabled is bench


def test_build_starts_the_watchdog_with_the_configured_timeout(rig):
    board = rig.boot()
    assert rig.hw.wdt.timeout_ms == TIMEOUT_MS == board.watchdog.timeout_ms
    board.watchdog.feed()
    assert rig.hw.wdt.feeds == 1


def test_a_loop_that_feeds_then_sleeps_never_starves_the_watchdog(rig):
    board = rig.boot()
    board.watchdog.feed()
    start = rig.hw.now_us
    while rig.hw.now_us - start < 60_000_000:
        board.watchdog.feed()
        board.sleep_until(3_600_000)     # the controller asks for an hour
    assert rig.hw.wdt.longest_gap_ms() <= TIMEOUT_MS - MARGIN_MS


def test_sleep_returns_within_a_slice_when_ack_is_pressed(rig):
    board = rig.boot()
    _at(rig.hw, 1_000, lambda: rig.hw.drive(ACK, 0))
    start = rig.hw.now_us
    board.sleep_until(5_000)
    slept_ms = (rig.hw.now_us - start) // 1000
    assert 1_000 < slept_ms <= 1_000 + rig.config.ACK_SETTLE_MS + rig.config.SLEEP_SLICE_MS
    assert board.ack_pressed() and not board.ack_pressed()


def test_sleep_returns_within_a_slice_when_a_command_arrives(rig):
    board = rig.boot()
    _at(rig.hw, 700, lambda: rig.stdin.feed(b"STATUS\n"))
    start = rig.hw.now_us
    board.sleep_until(5_000)
    assert (rig.hw.now_us - start) // 1000 <= 700 + rig.config.SLEEP_SLICE_MS
    assert board.serial.readline() == b"STATUS"


def test_lightsleep_is_used_only_when_enabled_and_nothing_runs_in_the_background(rig):
    board = rig.boot(USE_LIGHTSLEEP=True)
    lightsleep = rig.hw.machine.lightsleep
    board.stepper.pulse(array("I", [2_000]), 1)
    board.sleep_until(1_000)
    assert not lightsleep.called           # the PIO is timing a step
    rig.hw.advance_ms(2_000)
    board.sleep_until(1_000)
    lightsleep.assert_called_once_with(1_000)


def test_lightsleep_is_off_on_the_bench_board_by_default(rig):
    board = rig.boot()
    board.sleep_until(1_000)
    assert not rig.hw.machine.lightsleep.called


def test_reaching_the_end_of_travel_switch_stops_forward_steps_at_once(rig):
    board = rig.boot()
    board.stepper.pulse(array("I", range(10, 1_010, 10)), 100, forward=True)
    rig.hw.advance_ms(205)
    rig.hw.drive(END_OF_TRAVEL, 1)
    rig.hw.advance_ms(1_000)
    assert board.end_of_travel()
    assert len(rig.hw.pin(STEP).rising_edges_us()) == 20
    assert board.stepper.pending() == 0
    assert board.stepper.pulse(array("I", [5]), 1, forward=True) == 0


def test_the_home_switch_stops_a_retract(rig):
    board = rig.boot()
    board.stepper.pulse(array("I", range(10, 110, 10)), 10, forward=False)
    rig.hw.advance_ms(55)
    rig.hw.drive(HOME, 1)
    assert board.at_home()
    rig.hw.advance_ms(100)
    assert board.stepper.emitted == -5


def _at(hw, ms, action):
    """Make something happen in the outside world `ms` from now."""
    Timer = hw.machine.Timer
    return Timer(mode=Timer.ONE_SHOT, period=ms, callback=lambda _timer: action())


def test_bench_injection_forces_one_fault_at_a_time_and_clear_ends_it(rig):
    board = rig.boot()
    healthy = board.pressure.read_mpsi()
    board.inject("pressure", 12_000)
    assert board.pressure.read_mpsi() == 12_000 and not board.end_of_travel()
    board.inject("stall")
    assert board.stepper.stalled() and board.stepper.stalled()  # held, not a one-off latch
    assert board.pressure.read_mpsi() == healthy
    board.inject("empty")
    assert board.end_of_travel() and not board.stepper.stalled()
    board.inject("clear")
    assert not board.end_of_travel() and not board.stepper.stalled()
    assert board.pressure.read_mpsi() == healthy
