"""ADC scaling: line pressure (hw.pressure), VSYS and die temperature (hw.analog)."""
import itertools

import pytest

import fake_machine

PRESSURE_CHANNEL, VSYS_CHANNEL, TEMPERATURE_CHANNEL = 0, 3, 4
ZERO_U16, SPAN_U16 = 6_620, 52_957   # the board's nominal calibration


@pytest.fixture
def hw():
    with fake_machine.installed() as world:
        yield world


def pressure_sensor(hw, **kwargs):
    module = hw.load("hw.pressure")
    return module.PressureSensor(hw.machine.ADC(hw.machine.Pin(26)), ZERO_U16, SPAN_U16, **kwargs)


@pytest.mark.parametrize("u16, mpsi", [
    (ZERO_U16, 0),
    (ZERO_U16 + SPAN_U16, 30_000),
    (ZERO_U16 + SPAN_U16 // 2, 15_000),
    (ZERO_U16 + SPAN_U16 // 30, 1_000),
])
def test_pressure_scales_linearly_from_zero_to_full_scale(hw, u16, mpsi):
    hw.adc[PRESSURE_CHANNEL] = u16
    assert abs(pressure_sensor(hw).read_mpsi() - mpsi) <= 1


def test_pressure_is_the_mean_of_sixteen_samples(hw):
    samples = itertools.cycle([ZERO_U16 + SPAN_U16 // 2 - 300, ZERO_U16 + SPAN_U16 // 2 + 300])
    hw.adc[PRESSURE_CHANNEL] = lambda: next(samples)
    assert abs(pressure_sensor(hw).read_mpsi() - 15_000) <= 1


@pytest.mark.parametrize("u16, fault", [
    (0, "open circuit"),                    # wire off: the divider pulls the input to 0 V
    (ZERO_U16 // 3, "open circuit"),        # below 0.25 V at the sensor
    (ZERO_U16, None),
    (ZERO_U16 + SPAN_U16, None),
    (65_535, "shorted high"),               # output stuck at the supply
])
def test_pressure_readings_outside_the_healthy_band_are_faults(hw, u16, fault):
    hw.adc[PRESSURE_CHANNEL] = u16
    sensor = pressure_sensor(hw)
    assert sensor.fault_of(sensor.read_mpsi()) == fault


def test_open_circuit_reads_far_below_zero(hw):
    hw.adc[PRESSURE_CHANNEL] = 0
    assert pressure_sensor(hw).read_mpsi() < -3_000


def test_pressure_start_up_check_raises_a_pressure_sensor_fault_on_open_circuit(hw):
    hw.adc[PRESSURE_CHANNEL] = 0
    faults = hw.load("hw.faults")
    with pytest.raises(faults.StartupFault) as raised:
        pressure_sensor(hw).check()
    assert raised.value.kind == "pressure_sensor_fault"
    assert "open circuit" in raised.value.detail


def test_pressure_start_up_check_passes_a_healthy_sensor(hw):
    hw.adc[PRESSURE_CHANNEL] = ZERO_U16 + 200
    assert 0 < pressure_sensor(hw).check() < 200


def test_pressure_scaling_keeps_every_product_below_2_to_the_30(hw):
    # The largest half-count difference times the full scale of a 30 psi sensor.
    assert (65_535 >> 1) * 30_000 < 2 ** 30


@pytest.mark.parametrize("u16, mv", [(0, 0), (33_098, 4_999), (65_535, 9_900), (29_127, 4_400)])
def test_supply_is_three_times_the_adc_voltage_in_mv(hw, u16, mv):
    hw.adc[VSYS_CHANNEL] = u16
    analog = hw.load("hw.analog")
    assert analog.SupplyMonitor(hw.machine.ADC(hw.machine.Pin(29))).read_mv() == mv


@pytest.mark.parametrize("u16", [12_000, 14_021, 14_500, 16_000])
def test_die_temperature_follows_the_rp2040_datasheet_formula(hw, u16):
    hw.adc[TEMPERATURE_CHANNEL] = u16
    analog = hw.load("hw.analog")
    expected_c = 27 - (u16 * 3.3 / 65535 - 0.706) / 0.001721
    assert abs(analog.DieTemperature(hw.machine.ADC(4)).read_mc() - expected_c * 1000) <= 2


def test_die_temperature_at_0_706_v_is_27_degrees(hw):
    hw.adc[TEMPERATURE_CHANNEL] = round(0.706 / 3.3 * 65535)
    analog = hw.load("hw.analog")
    assert abs(analog.DieTemperature(hw.machine.ADC(4)).read_mc() - 27_000) <= 30
