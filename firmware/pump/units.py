"""Conversions from the numbers people type to the integers the pump keeps.

Every quantity inside the pump logic is an integer in a small unit: volume in
nL, drug in ng (1 mcg = 1000 ng), rate in ng/h, time of day in ms, wall time in
seconds since 2000-01-01 (the RTC epoch). RP2040 floats are 32-bit, so a float
never accumulates anything here. Converting at the boundary (scenario loader,
command protocol) rejects values finer than the unit instead of rounding them
silently: 0.5 mcg/h is 500 ng/h, 0.0001 mcg/h is an error.
"""
from pump.compat import const

MS_PER_DAY = const(86_400_000)
MS_PER_HOUR = const(3_600_000)
MS_PER_MIN = const(60_000)
S_PER_DAY = const(86_400)
NL_PER_ML = const(1_000_000)
NG_PER_MCG = const(1_000)


class UnitError(ValueError):
    """A number that is not a whole count of the pump's unit, or not a number."""


def to_int_units(value, per_unit, what):
    """`value` (int or float) times `per_unit`, which must come out whole.

    A float is accepted when it is within one part per million of a whole
    number of units: 0.1 mL is 99999.99999999999 nL in a double, and the
    RP2040's 32-bit floats (its json.loads makes them) carry about 7 digits,
    so 0.1 mL arrives there as 100000.0015 nL. NaN and infinity are refused.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UnitError("%s: expected a number" % what)
    scaled = value * per_unit
    if scaled != scaled or scaled in (float("inf"), float("-inf")):
        raise UnitError("%s: expected a finite number" % what)
    whole = int(round(scaled))
    if abs(scaled - whole) > 1e-6 * max(1, abs(whole)):
        raise UnitError("%s: %r is finer than the pump's resolution" % (what, value))
    return whole


def mcg_to_ng(value, what="mcg"):
    return to_int_units(value, NG_PER_MCG, what)


def ml_to_nl(value, what="mL"):
    return to_int_units(value, NL_PER_ML, what)


def hhmm_to_ms(text, what="start"):
    """'07:30' -> ms since midnight. Rejects anything but HH:MM within a day."""
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":":
        raise UnitError("%s: expected HH:MM, got %r" % (what, text))
    hh, mm = text[:2], text[3:]
    if not (hh.isdigit() and mm.isdigit()) or int(hh) > 23 or int(mm) > 59:
        raise UnitError("%s: expected HH:MM, got %r" % (what, text))
    return (int(hh) * 60 + int(mm)) * 60_000


def ms_to_hhmm(ms):
    minutes = ms // 60_000
    return "%02d:%02d" % (minutes // 60, minutes % 60)


# Monday first, as people and datetime.weekday() count; 2000-01-01 was a Saturday.
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SATURDAY = const(5)


def weekday(day):
    """0 (Monday) .. 6 (Sunday) of a day count since 2000-01-01: a small-int
    modulo, so the wake path can ask it."""
    return (day + _SATURDAY) % 7


_DAYS_BEFORE_MONTH = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
_ISO_SHAPE = "dddd-dd-ddTdd:dd:dd"


def is_leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_from_date(year, month, day):
    """Days since 2000-01-01 of a Gregorian date in 2000-2199."""
    n = year - 2000
    days = 365 * n + (n + 3) // 4 - (n + 99) // 100 + (n + 399) // 400
    days += _DAYS_BEFORE_MONTH[month - 1] + day - 1
    if month > 2 and is_leap(year):
        days += 1
    return days


def date_from_days(days):
    """(year, month, day) of a day count since 2000-01-01."""
    year = 2000
    while True:
        length = 366 if is_leap(year) else 365
        if days < length:
            break
        days -= length
        year += 1
    month = 12
    while True:
        start = _DAYS_BEFORE_MONTH[month - 1] + (1 if month > 2 and is_leap(year) else 0)
        if days >= start:
            return year, month, days - start + 1
        month -= 1


def iso_to_clock_s(text, what="iso"):
    """'2026-03-02T08:00:00' (local time) -> s since 2000-01-01T00:00:00, the RTC epoch.

    Years 2000-2099 only: the DS3231 keeps no century without its flag.
    """
    if not isinstance(text, str) or len(text) != len(_ISO_SHAPE):
        raise UnitError("%s: expected YYYY-MM-DDTHH:MM:SS" % what)
    for shape, ch in zip(_ISO_SHAPE, text):
        if (ch not in "0123456789") if shape == "d" else (ch != shape):
            raise UnitError("%s: expected YYYY-MM-DDTHH:MM:SS" % what)
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if not (2000 <= year <= 2099 and 1 <= month <= 12 and hour <= 23 and minute <= 59 and second <= 59):
        raise UnitError("%s: not a date and time in 2000-2099" % what)
    if not 1 <= day <= days_from_date(year + month // 12, month % 12 + 1, 1) - days_from_date(year, month, 1):
        raise UnitError("%s: no such day" % what)
    return ((days_from_date(year, month, day) * 24 + hour) * 60 + minute) * 60 + second


def clock_s_to_iso(clock_s):
    """s since 2000-01-01 -> '2026-03-02T08:00:00', for replies people read."""
    days, second = divmod(clock_s, S_PER_DAY)
    year, month, day = date_from_days(days)
    return "%04d-%02d-%02dT%02d:%02d:%02d" % (year, month, day, second // 3600, second // 60 % 60, second % 60)
