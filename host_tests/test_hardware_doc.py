"""docs/HARDWARE.md agrees with the board's code: the pin map with pins.py,
the steps/mL derivation and the pressure scaling with config.py, the
low-battery thresholds with pump.monitor. The figures are read from the
document's own tables, so a change on either side that the other does not
follow fails here."""
import math
import os
import re

import pytest

import mpenv
from boards.refpump_rp2040 import config, pins
from pump.monitor import LOW_SUPPLY_MV, SUPPLY_OK_MV

with open(os.path.join(mpenv.ROOT, "docs", "HARDWARE.md")) as _doc:
    DOC = _doc.read()


def spaced(number, digits=0):
    """A number as the document writes it: thousands apart by a space."""
    return "{:,.{}f}".format(number, digits).replace(",", " ")


def table_value(quantity):
    """The number in the `| quantity | value | unit |` row of the mechanism table."""
    match = re.search(r"^\| %s \| ([0-9.]+) \|" % re.escape(quantity), DOC, re.MULTILINE)
    assert match, quantity
    return float(match.group(1))


def test_the_documented_mechanism_gives_the_configured_steps_per_ml():
    steps_per_rev = table_value("full steps per motor revolution") * table_value("microsteps per full step")
    ul_per_rev = math.pi / 4 * table_value("reservoir bore") ** 2 * table_value("lead of the screw")  # mm^3
    steps_per_ml = steps_per_rev / ul_per_rev * 1000
    assert math.floor(steps_per_ml) == config.DEFAULT_CALIBRATION["steps_per_ml"]
    assert "**%s steps/mL**" % spaced(steps_per_ml, 1) in DOC


PIN_NAMES = [name for name in dir(pins) if name.isupper() and name not in
             ("STEPPER_STATE_MACHINE", "I2C_BUS", "TEMPERATURE_CHANNEL", "I2C_SDA", "I2C_SCL")]


@pytest.mark.parametrize("name", PIN_NAMES)
def test_every_pin_of_the_pin_map_is_documented_on_its_gpio(name):
    gpio = getattr(pins, name)
    rows = [row for row in DOC.splitlines() if re.match(r"^\|[^|]*\bGP%d\b" % gpio, row)]
    assert len(rows) == 1 and name in rows[0], (name, rows)


def test_the_i2c_pins_are_documented():
    assert "| GP%d / GP%d | I2C_SDA / I2C_SCL (I2C%d)" % (pins.I2C_SDA, pins.I2C_SCL, pins.I2C_BUS) in DOC


def test_the_documented_divider_and_reference_give_the_configured_pressure_scaling():
    """0.5 V and 4.5 V through 20k/(10k+20k) on a 3.3 V, 16-bit scaled ADC."""
    assert "10 k from the" in DOC and "20 k from GP26 to GND" in DOC
    def u16(volts):
        return volts * 20 / 30 / 3.3 * 65535
    calibration = config.DEFAULT_CALIBRATION
    assert round(u16(0.5)) == calibration["pressure_zero_u16"]
    assert abs(u16(4.5) - u16(0.5) - calibration["pressure_span_u16"]) < 1
    assert "| 0 psi | 0.5 V | 0.333 V | 6 620 (`pressure_zero_u16`) |" in DOC


def test_the_documented_low_battery_thresholds_are_the_monitors():
    assert "below **%.2f V** (`LOW_SUPPLY_MV`" % (LOW_SUPPLY_MV / 1000) in DOC
    assert "at **%.2f V** (`SUPPLY_OK_MV`)" % (SUPPLY_OK_MV / 1000) in DOC


def test_the_documented_calibration_limits_are_the_configs():
    low, high = config.CALIBRATION_LIMITS["steps_per_ml"]
    assert "refuses a value outside %s-%s" % (spaced(low), spaced(high)) in DOC
