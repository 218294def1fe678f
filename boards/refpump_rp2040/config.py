"""Reference board rev A (Raspberry Pi Pico, RP2040): its name, files, timings
and calibration.

hw/pumpboard.py builds the board from this and pins.py. The mechanism is the
reference one, so the nominal calibration and the range each value is
accepted in are hw/calibration.py's; the measured values live on the board
in CALIBRATION_PATH. All values are integers (or paths).
"""
from hw.calibration import CALIBRATION_LIMITS, DEFAULT_CALIBRATION  # noqa: F401 (the reference mechanism)

NAME = "refpump_rp2040 rev A"
CALIBRATION_PATH = "/calibration.json"
DEVICE_KEY_PATH = "/device.key"
DATA_DIR = "/data"

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
