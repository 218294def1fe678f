"""Reference board rev A: timings, limits and the default calibration.

The calibration here is nominal; each board's measured values live on the
board in CALIBRATION_PATH (JSON, any subset of the keys) and override these
(see the README, "Calibration", for how steps_per_ml is measured). Every key carries its
unit in its name; all are integers.
"""
CALIBRATION_PATH = "/calibration.json"
DEVICE_KEY_PATH = "/device.key"
DATA_DIR = "/data"

WATCHDOG_TIMEOUT_MS = 8_000     # the RP2040 allows at most 8388
WATCHDOG_MARGIN_MS = 2_000      # longest single sleep is timeout - margin
I2C_FREQ_HZ = 400_000
BUZZER_TONE_HZ = 2_700          # near a typical 12 mm piezo's resonance
ACK_SETTLE_MS = 30
STEP_QUEUE = 128                # pulses one Stepper.pulse() call may queue at most
FORWARD_DIR_LEVEL = 1           # DIR level that drives the plunger into the reservoir
PRESSURE_FULL_SCALE_MPSI = 30_000
SLEEP_SLICE_MS = 20             # how often a sleep looks for an ACK press or serial input
BENCH_LINE_MPSI_PER_UL = 1_000  # bench `occlusion`: a blocked reference catheter, 1 psi per uL pushed
# lightsleep stops PIO, PWM and the USB stack's service for its duration: off
# for the USB-powered bench board, where it would only delay commands.
USE_LIGHTSLEEP = False

DEFAULT_CALIBRATION = {
    "steps_per_ml": 12_732,           # 1/16 microsteps per mL of plunger travel
    "capacity_nl": 20_000_000,        # the reservoir
    "bolus_rate_nl_per_h": 10_000_000,  # clinician boluses, as on the simulated board
    "max_steps_per_s": 400,           # the mechanism's limit (priming, retract)
    "outlet_nl": 100_000,             # the pump's own dead volume, outlet to catheter (docs/THERAPY_MODES.md)
    "pressure_zero_u16": 6_620,       # ADC reading at 0 psi (0.5 V through 2/3)
    "pressure_span_u16": 52_957,      # ADC rise from 0 to 30 psi (4.0 V through 2/3)
}

# Plausible range of each calibration value: a file outside it is refused.
CALIBRATION_LIMITS = {
    "steps_per_ml": (9_549, 15_915),            # nominal +-25 %
    "capacity_nl": (1_000_000, 40_000_000),
    "bolus_rate_nl_per_h": (100_000, 20_000_000),
    "max_steps_per_s": (1, 1_000),              # step offsets are whole ms
    "outlet_nl": (0, 1_000_000),
    "pressure_zero_u16": (0, 20_000),
    "pressure_span_u16": (10_000, 65_535),
}
