"""This board's calibration: the file on the board over the nominal defaults.

The file is JSON holding any subset of the default keys, each an integer in
its plausible range (config.CALIBRATION_LIMITS). A file that cannot be read
as such is refused whole and reported: a steps_per_ml typed wrong scales
every dose, so the board must not half-believe it. No file at all is a board
that was never calibrated, and runs on the nominal values.
"""
import json


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
