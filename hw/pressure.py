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

Resolution and noise: a reading is the mean of 16 `read_u16()` samples, so
it moves in steps of 2 u16 counts after the halving, 1.13 mpsi with the
nominal calibration; one step of the 12-bit converter is 16 counts, 9 mpsi.
pump.occlusion's stuck-sensor rule relies on the converter's own noise of
at least 0.5 LSB rms on this channel (the RP2040's is 1-3 LSB: an effective
resolution of about 9 bits), which makes a reading vary by at least one
step; `selftest` checks it on the board.

Bench faults (`inject`, protocol `bench`, jumper only) act on the reading
as the hardware would: open circuit is 0 V at the ADC, out of range is the
ADC's full scale, stuck holds the reading taken when it was injected, and a
blocked line adds to the real reading the rise of a blocked catheter for
each step pushed since (so the transducer's own noise rides on it).
"""
from hw.analog import ADC_FULL_SCALE, read_average_u16
from hw.faults import StartupFault

OPEN_CIRCUIT = "open circuit"
SHORTED_HIGH = "shorted high"
_BLOCKED_MAX_STEPS = 1024  # far past full scale; keeps the bench rise a small int


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
        self._max_mpsi = self._to_mpsi(ADC_FULL_SCALE)
        self.inject("clear")

    def inject(self, fault, mpsi=None, stepper=None, rise_per_step_x1000=0):
        """Bench fault: "pressure" (the reading forced to `mpsi`),
        "sensor_open", "sensor_out_of_range", "sensor_stuck", "occlusion"
        (the line blocked: `stepper`'s emitted count is the volume pushed,
        `rise_per_step_x1000` the catheter's rise per step, in mpsi x 1000);
        any other fault clears them."""
        self.forced_mpsi = mpsi if fault == "pressure" else None
        self._forced_u16 = {"sensor_open": 0, "sensor_out_of_range": ADC_FULL_SCALE}.get(fault)
        self._holding = fault == "sensor_stuck"
        self._held_u16 = None
        self._blocked_by = stepper if fault == "occlusion" else None
        self._blocked_from = stepper.emitted if stepper is not None else 0
        self._blocked_rise_x1000 = rise_per_step_x1000

    def read_mpsi(self):
        if self.forced_mpsi is not None:
            return self.forced_mpsi
        u16 = read_average_u16(self._adc, self._samples_log2)
        if self._forced_u16 is not None:
            u16 = self._forced_u16
        elif self._holding:
            if self._held_u16 is None:
                self._held_u16 = u16
            u16 = self._held_u16
        mpsi = self._to_mpsi(u16)
        stepper = self._blocked_by
        if stepper is not None:
            pushed = stepper.emitted - self._blocked_from
            pushed = 0 if pushed < 0 else (_BLOCKED_MAX_STEPS if pushed > _BLOCKED_MAX_STEPS else pushed)
            mpsi += pushed * self._blocked_rise_x1000 // 1000
            if mpsi > self._max_mpsi:
                mpsi = self._max_mpsi  # the transducer saturates the ADC
        return mpsi

    def _to_mpsi(self, u16):
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
