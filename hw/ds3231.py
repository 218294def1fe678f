"""DS3231 real-time clock on I2C: seconds since 2000-01-01, local time.

The battery-backed DS3231 keeps the wall clock across power cuts, which is what
lets the pump resume a flex schedule at the right time of day after a restart.
It has no ID register, so start-up checks what a DS3231 must look like: it
answers at 0x68, every time register holds valid BCD in range, and the
temperature LSB register (0x12) uses only its top two bits. A missing or
foreign device raises StartupFault("clock_fault") instead of reading as a
zero date.

The oscillator-stop flag (OSF, status bit 7) says the time was lost (battery
flat or first power-up); `write_s` clears it, as setting the time makes it
good again. The chip is always written in 24-hour mode and read in either.
Days are counted with the Gregorian rules the chip itself uses (its
leap-year logic is good for 2000-2099; the century bit carries 2100-2199),
by pump.units, which the protocol's clock commands share.
"""
from hw.faults import StartupFault
from pump.compat import const
from pump.units import date_from_days, days_from_date

ADDRESS = const(0x68)
_REG_TIME = const(0x00)
_REG_CONTROL = const(0x0E)
_REG_STATUS = const(0x0F)
_REG_TEMP_LSB = const(0x12)
_TIME_BYTES = const(7)
_STATUS_OSF = const(0x80)
_CONTROL_EOSC = const(0x80)
_HOUR_12H = const(0x40)
_HOUR_PM = const(0x20)
_MONTH_CENTURY = const(0x80)
S_PER_DAY = const(86_400)

def _from_bcd(byte):
    return (byte >> 4) * 10 + (byte & 0x0F)


def _to_bcd(value):
    return ((value // 10) << 4) | (value % 10)


def _bcd_in(byte, low, high):
    return (byte & 0x0F) <= 9 and low <= _from_bcd(byte) <= high


def _hour(byte):
    if byte & _HOUR_12H:
        return _from_bcd(byte & 0x1F) % 12 + (12 if byte & _HOUR_PM else 0)
    return _from_bcd(byte & 0x3F)


def _plausible(regs):
    hour = regs[2]
    hour_ok = (_bcd_in(hour & 0x1F, 1, 12) if hour & _HOUR_12H
               else _bcd_in(hour & 0x3F, 0, 23))
    return (_bcd_in(regs[0], 0, 59) and _bcd_in(regs[1], 0, 59) and hour_ok
            and 1 <= regs[3] <= 7 and _bcd_in(regs[4], 1, 31)
            and _bcd_in(regs[5] & 0x1F, 1, 12) and _bcd_in(regs[6], 0, 99))


class DS3231:
    def __init__(self, i2c, address=ADDRESS):
        self._i2c = i2c
        self._address = address
        self._regs = bytearray(_REG_STATUS + 1)  # time, alarms, control, status
        self._time = bytearray(_TIME_BYTES)
        self._byte = bytearray(1)
        self.oscillator_stopped = False
        self.day = self.second = 0
        try:
            i2c.readfrom_mem_into(address, _REG_TIME, self._regs)
            i2c.readfrom_mem_into(address, _REG_TEMP_LSB, self._byte)
        except OSError as exc:
            raise StartupFault("clock_fault", "DS3231 did not answer at I2C 0x%02x (%s)" % (address, exc))
        if not _plausible(self._regs) or self._byte[0] & 0x3F:
            raise StartupFault("clock_fault", "the device at I2C 0x%02x is not a DS3231" % address)
        self.oscillator_stopped = bool(self._regs[_REG_STATUS] & _STATUS_OSF)

    def read(self):
        """Read the time into `day` (since 2000-01-01) and `second` (of the
        day): two small ints, where seconds since 2000 pass 2**30 in 2034
        and would be a long int on every read. Refreshes
        `oscillator_stopped`. One I2C transaction; raises OSError if the
        chip stops answering."""
        regs = self._regs
        self._i2c.readfrom_mem_into(self._address, _REG_TIME, regs)
        self.oscillator_stopped = bool(regs[_REG_STATUS] & _STATUS_OSF)
        year = 2000 + _from_bcd(regs[6]) + (100 if regs[5] & _MONTH_CENTURY else 0)
        self.day = days_from_date(year, _from_bcd(regs[5] & 0x1F), _from_bcd(regs[4]))
        self.second = _hour(regs[2]) * 3600 + _from_bcd(regs[1]) * 60 + _from_bcd(regs[0])

    def write(self, day, second_of_day):
        """Set the time (24-hour mode), keep the oscillator on battery, clear OSF.

        Writing the seconds register restarts the chip's one-second countdown,
        so the next tick comes a full second after this write.
        """
        year, month, date = date_from_days(day)
        t = self._time
        t[0] = _to_bcd(second_of_day % 60)
        t[1] = _to_bcd(second_of_day // 60 % 60)
        t[2] = _to_bcd(second_of_day // 3600)
        t[3] = (day + 5) % 7 + 1  # 1 = Monday; 2000-01-01 was a Saturday
        t[4] = _to_bcd(date)
        t[5] = _to_bcd(month) | (_MONTH_CENTURY if year >= 2100 else 0)
        t[6] = _to_bcd(year % 100)
        self._i2c.writeto_mem(self._address, _REG_TIME, t)
        self._byte[0] = self._regs[_REG_CONTROL] & ~_CONTROL_EOSC & 0xFF
        self._i2c.writeto_mem(self._address, _REG_CONTROL, self._byte)
        self._byte[0] = self._regs[_REG_STATUS] & ~_STATUS_OSF & 0xFF
        self._i2c.writeto_mem(self._address, _REG_STATUS, self._byte)
        self.oscillator_stopped = False
