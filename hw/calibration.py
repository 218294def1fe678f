"""A board's calibration: the reference mechanism's nominal values, the range
each is accepted in, and the rule that reads a board's calibration file.

The mechanism (lead screw, 20 mL reservoir, line pressure transducer) is the
same whichever board drives it, so every board of the reference pump, the
simulated one included, takes DEFAULT_CALIBRATION and CALIBRATION_LIMITS
from here through its config; a board with another mechanism states its own.
Each board's measured values live on the board in a JSON file holding any
subset of the keys (see the README, "Calibration", for how steps_per_ml is
measured), each an integer in its range, and override the nominal ones. A
file that cannot be read as such is refused whole and reported: a
steps_per_ml typed wrong scales every dose, so the board must not
half-believe it. No file at all is a board that was never calibrated, and
runs on the nominal values. Every key carries its unit in its name.
"""
import json

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
# The reservoir estimate takes the steps_per_ml range as the calibration's
# tolerance (pump.reservoir).
CALIBRATION_LIMITS = {
    "steps_per_ml": (9_549, 15_915),            # nominal +-25 %
    "capacity_nl": (1_000_000, 40_000_000),
    "bolus_rate_nl_per_h": (100_000, 20_000_000),
    "max_steps_per_s": (1, 1_000),              # step offsets are whole ms
    "outlet_nl": (0, 1_000_000),
    "pressure_zero_u16": (0, 20_000),
    "pressure_span_u16": (10_000, 65_535),
}


def parse(text, defaults, limits):
    """The calibration dict for `text`; raises ValueError naming what is wrong."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("calibration must be a JSON object")
    calibration = dict(defaults)
    for key, value in data.items():
        if key not in limits:
            raise ValueError("unknown calibration key %r" % key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("calibration %s must be an integer" % key)
        low, high = limits[key]
        if not low <= value <= high:
            raise ValueError("calibration %s=%d outside %d..%d" % (key, value, low, high))
        calibration[key] = value
    return calibration


def load(path, defaults, limits):
    """(calibration, problem): problem is None, or why the file was refused."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return dict(defaults), None
    try:
        return parse(text, defaults, limits), None
    except ValueError as exc:
        return dict(defaults), "calibration file %s refused: %s" % (path, exc)
