"""The RP2040's own analog channels: supply voltage (VSYS/3) and die temperature.

Both are read through `ADC.read_u16()`, which scales the 12-bit converter to
0..65535 for 0..3.3 V, and averaged over 2**n samples: one reading of the
RP2040 ADC carries a few LSB of noise, which on the temperature sensor is
about a degree. Results are integers (mV, milli-degC). The supply scaling
stays below 2**30; the temperature conversion passes it (a long int on the
RP2040), which is fine for a reading taken once per wake-up in the main loop
and never on the step path.
"""
from pump.compat import const

ADC_FULL_SCALE = const(65535)
ADC_REF_MV = const(3300)
_TEMP_REF_UV = const(706_000)     # sensor output at 27 degC (RP2040 datasheet)
_TEMP_SLOPE_UV_PER_C = const(1721)  # the output falls 1.721 mV per degC


def read_average_u16(adc, samples_log2):
    """Mean of 2**samples_log2 `read_u16()` samples (floor)."""
    total = 0
    for _ in range(1 << samples_log2):
        total += adc.read_u16()
    return total >> samples_log2


class SupplyMonitor:
    """VSYS through the Pico's on-board 3:1 divider on ADC3 (GP29).

    The low-battery alarm reads this; on USB power it shows about 4.7-5.0 V.
    """

    def __init__(self, adc, divider=3, samples_log2=4):
        self._adc = adc
        self._divider = divider
        self._samples_log2 = samples_log2

    def read_mv(self):
        u16 = read_average_u16(self._adc, self._samples_log2)
        return u16 * ADC_REF_MV * self._divider // ADC_FULL_SCALE


class DieTemperature:
    """The RP2040 temperature sensor on ADC4, in milli-degC.

    T = 27 - (V - 0.706) / 0.001721 (RP2040 datasheet, section 4.9.5). It
    measures the die, so it reads a few degrees above the drug in the
    reservoir once the board is warm; the 2-30 degC storage warning uses it
    as the board temperature the design calls for.
    """

    def __init__(self, adc, samples_log2=4):
        self._adc = adc
        self._samples_log2 = samples_log2

    def read_mc(self):
        u16 = read_average_u16(self._adc, self._samples_log2)
        sensor_uv = u16 * ADC_REF_MV * 1000 // ADC_FULL_SCALE
        return 27_000 - (sensor_uv - _TEMP_REF_UV) * 1000 // _TEMP_SLOPE_UV_PER_C
