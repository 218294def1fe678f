"""Physics of the simulated pump: lead screw, reservoir, catheter, pressure.

Everything is integer (steps, nL, mpsi, ms) so a run is identical under
CPython and MicroPython. The figures, and where they come from:

- Mechanism: one motor step moves the plunger 1/steps_per_ml mL (nominal
  12 732 steps/mL: 200 full steps x 16 microsteps per turn on the board's
  lead screw and 20 mL reservoir). The true calibration may differ from the
  board's (`true_steps_per_ml`) to test calibration error.
- Line compliance: 1 uL/psi, i.e. 1 mpsi per nL trapped behind a blockage.
  A modelling choice for a stiff implant-grade reservoir and a short line;
  a soft plastic syringe is 10-100x more compliant, and then no detector can
  see a blockage within a few uL (the floor printed by bench/occlusion.py
  scales with this figure).
- Flow resistance of the open catheter: Poiseuille for a 1 m, 0.5 mm bore
  catheter gives well under 1 mpsi at 1 mL/h, so the open line reads the
  baseline.
- Baseline: CSF pressure, about 200 mpsi (14 cmH2O) lying down; posture
  shifts move it by up to 600 mpsi a few times a day, each over 10-60 s.
- Sensor noise: Gaussian, sigma 30 mpsi per reading after the driver's
  oversampling (RP2040 ADC: about 9 effective bits over the 0-30 psi span is
  ~60 mpsi per reading; 4x oversampling halves it).
- Sensor faults: open circuit reads -3750 mpsi (0 V on a 0.5-4.5 V
  transducer), out of range 35 000 mpsi (shorted to supply), stuck repeats
  its last reading.
"""
from hw.sim.rng import XorShift32
from pump.occlusion import SENSOR_OK, SENSOR_OPEN, SENSOR_OUT_OF_RANGE, SENSOR_STUCK

BASELINE_MPSI = 200
NOISE_SIGMA_MPSI = 30
COMPLIANCE_NL_PER_PSI = 1000  # 1 uL/psi
OPEN_CIRCUIT_MPSI = -3750
SHORTED_MPSI = 35_000
SENSOR_FULL_SCALE_MPSI = 33_750  # 5 V on the 0.5-4.5 V = 0-30 psi scale

# The faults the transducer can be given, named as the firmware's monitor names them.
SENSOR_FAULTS = {"none": SENSOR_OK, "open": SENSOR_OPEN, "stuck": SENSOR_STUCK, "out_of_range": SENSOR_OUT_OF_RANGE}


class Posture:
    """Slow, seeded baseline shifts (lying, sitting, standing)."""

    def __init__(self, rng):
        self.rng = rng
        self.level_mpsi = BASELINE_MPSI
        self.from_mpsi = BASELINE_MPSI
        self.ramp_start_ms = 0
        self.ramp_ms = 1
        self.next_shift_ms = self._interval()

    def _interval(self):
        return self.rng.between(2 * 3_600_000, 8 * 3_600_000)

    def baseline_mpsi(self, t_ms):
        while t_ms >= self.next_shift_ms:
            self.from_mpsi = self.level_mpsi
            self.level_mpsi = BASELINE_MPSI + self.rng.between(0, 600)
            self.ramp_start_ms = self.next_shift_ms
            self.ramp_ms = self.rng.between(10_000, 60_000)
            self.next_shift_ms += self._interval()
        into = t_ms - self.ramp_start_ms
        if into >= self.ramp_ms:
            return self.level_mpsi
        return self.from_mpsi + (self.level_mpsi - self.from_mpsi) * into // self.ramp_ms


class Mechanism:
    """Plunger position, reservoir, catheter and the pressure between them.

    Volumes are kept in motor steps of the true calibration; `to_patient_steps`
    is what left the catheter tip, `trapped_steps` what is compressed behind a
    blockage. Cumulative counters feed the report.
    """

    def __init__(self, seed, fill_nl, capacity_nl, true_steps_per_ml):
        self.rng = XorShift32(seed)
        self.posture = Posture(XorShift32(seed + 7919))
        self.true_steps_per_ml = true_steps_per_ml
        self.capacity_nl = capacity_nl
        self.reservoir_steps = fill_nl * true_steps_per_ml // 1_000_000
        self.trapped_steps = 0
        self.occluded = False
        self.stalled = False
        self.diag = False
        self.sensor_fault = SENSOR_OK
        self.forced_mpsi = None  # bench injection: the reading is forced
        self.forced_empty = False  # bench injection: the end switch is forced
        self.last_reading = BASELINE_MPSI
        self.to_patient_steps = 0
        self.plunger_steps = 0  # net travel into the reservoir since the start (a refill does not move it back)
        self.released_on_clear_steps = 0  # the largest single release, for the report

    def step(self, forward):
        """One motor step; False when the plunger did not move."""
        if self.stalled or (forward and self.reservoir_steps <= 0):
            self.diag = True  # the TMC2209 sees the load and flags DIAG
            return False
        self.plunger_steps += 1 if forward else -1
        if forward:
            self.reservoir_steps -= 1
            if self.occluded:
                self.trapped_steps += 1
            else:
                self.to_patient_steps += 1
        else:
            self.reservoir_steps += 1
            if self.trapped_steps > 0:
                self.trapped_steps -= 1
            else:
                self.to_patient_steps -= 1
        return True

    def end_of_travel(self):
        return self.forced_empty or self.reservoir_steps <= 0

    def pressure_mpsi(self, t_ms):
        """What the transducer reads now (noise drawn per reading)."""
        if self.forced_mpsi is not None:
            return self.forced_mpsi
        if self.sensor_fault == SENSOR_OPEN:
            return OPEN_CIRCUIT_MPSI
        if self.sensor_fault == SENSOR_OUT_OF_RANGE:
            return SHORTED_MPSI
        if self.sensor_fault == SENSOR_STUCK:
            return self.last_reading
        reading = self.line_mpsi(t_ms) + self.rng.gauss(NOISE_SIGMA_MPSI)
        reading = min(reading, SENSOR_FULL_SCALE_MPSI)
        self.last_reading = reading
        return reading

    def line_mpsi(self, t_ms):
        """The true line pressure now: what a gauge on the line would read."""
        trapped_nl = self.trapped_steps * 1_000_000 // self.true_steps_per_ml
        return self.posture.baseline_mpsi(t_ms) + trapped_nl * 1000 // COMPLIANCE_NL_PER_PSI

    def occlude(self):
        self.occluded = True

    def clear_occlusion(self):
        """The blockage gives way: what was trapped reaches the patient.
        Returns that volume, in steps."""
        self.occluded = False
        released = self.trapped_steps
        self.to_patient_steps += released
        self.trapped_steps = 0
        self.released_on_clear_steps = max(self.released_on_clear_steps, released)
        return released

    def refill(self, add_nl, discard_residual):
        """Fill through the port; the plunger is driven back by the fill.
        With a new concentration the residual is aspirated first."""
        if discard_residual:
            self.reservoir_steps = 0
        room = self.capacity_nl * self.true_steps_per_ml // 1_000_000 - self.reservoir_steps
        self.reservoir_steps += min(add_nl * self.true_steps_per_ml // 1_000_000, room)
