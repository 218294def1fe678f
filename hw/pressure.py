"""Line pressure from a ratiometric transducer on ADC0 (GP26), in milli-psi.

The transducer gives 0.5-4.5 V for 0-30 psi from a 5 V supply; a 10k/20k
divider brings that to 0.33-3.0 V for the 3.3 V ADC, and the 20k to ground
pulls an unplugged input to 0 V. So an open circuit reads far below zero
(about -3.75 psi), and a short to the supply far above full scale: both are
outside the 0.25-4.75 V band a healthy sensor stays in, and are reported as
faults rather than read as pressures (an occlusion must not hide behind a
broken wire).

Calibration is two numbers in `read_u16` units, measured on the board: the
reading at 0 psi (`zero_u16`) and the rise from 0 psi to full scale
(`span_u16`); nominal 6620 and 52957 for the divider above. The scaling
halves both before multiplying so that every product stays below 2**30 for
a 30 psi sensor; the half-count lost is far below the 12-bit ADC's step.
"""
from hw.analog import read_average_u16
from hw.faults import StartupFault

OPEN_CIRCUIT = "open circuit"
SHORTED_HIGH = "shorted high"


class PressureSensor:
    def __init__(self, adc, zero_u16, span_u16, full_scale_mpsi=30_000, samples_log2=4):
        if span_u16 < 2:
            raise ValueError("pressure span must be positive")
        self._adc = adc
        self._zero_u16 = zero_u16
        self._half_span_u16 = span_u16 >> 1
        self._full_scale_mpsi = full_scale_mpsi
        self._samples_log2 = samples_log2
        # A healthy sensor never leaves 0.25-4.75 V: 1/16 of full scale past each end.
        self._margin_mpsi = full_scale_mpsi // 16
        self.forced_mpsi = None  # bench injection (protocol `bench`, jumper only)

    def read_mpsi(self):
        if self.forced_mpsi is not None:
            return self.forced_mpsi
        u16 = read_average_u16(self._adc, self._samples_log2)
        return ((u16 - self._zero_u16) >> 1) * self._full_scale_mpsi // self._half_span_u16

    def fault_of(self, mpsi):
        """None for a plausible reading, else why it cannot be a pressure."""
        if mpsi < -self._margin_mpsi:
            return OPEN_CIRCUIT
        if mpsi > self._full_scale_mpsi + self._margin_mpsi:
            return SHORTED_HIGH
        return None

    def check(self):
        """Start-up check: raises StartupFault if the sensor reads as a fault."""
        mpsi = self.read_mpsi()
        fault = self.fault_of(mpsi)
        if fault is not None:
            raise StartupFault("pressure_sensor_fault",
                               "pressure sensor reads %s (%d mpsi)" % (fault, mpsi))
        return mpsi
