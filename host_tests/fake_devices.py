"""Fake devices around the board for CPython tests: a DS3231 on I2C, the USB console.

They plug into fake_machine's World: `hw.i2c_devices[0x68] = FakeDS3231(hw, start)`.
"""
import datetime

_EPOCH = datetime.datetime(2000, 1, 1)


def seconds_since_2000(when):
    return int((when - _EPOCH).total_seconds())


def _bcd(value):
    return (value // 10) << 4 | value % 10


def _unbcd(byte):
    return (byte >> 4) * 10 + (byte & 0x0F)


class FakeDS3231:
    """A DS3231 whose seconds count with simulated time, `drift_ppm` fast
    (negative: slow), and `phase_ms` into its current second when it is
    attached: the driver cannot know where in the second the chip is, as on
    a board. Registers encoded with CPython's datetime, independently of the
    driver's own calendar code. Writing the seconds restarts the chip's
    second there (phase 0), as the real one does."""

    def __init__(self, world, start, oscillator_stopped=False, twelve_hour=False, drift_ppm=0, phase_ms=600):
        self.world = world
        self.drift_ppm = drift_ppm
        self.failing = False
        self.twelve_hour = twelve_hour
        self.regs = bytearray(19)
        self.regs[0x0E] = 0x1C
        self.regs[0x0F] = 0x80 if oscillator_stopped else 0x00
        self.regs[0x11], self.regs[0x12] = 0x19, 0x40   # 25.25 degC
        self._set_count(seconds_since_2000(start), phase_ms * 1000)

    def _set_count(self, seconds, phase_us=0):
        self.base_s, self.base_us, self.phase_us = seconds, self.world.now_us, phase_us

    def true_us(self):
        """The chip's time since its count was set, in us (what its seconds floor)."""
        return (self.world.now_us - self.base_us) * (1_000_000 + self.drift_ppm) // 1_000_000 + self.phase_us

    def seconds(self):
        return self.base_s + self.true_us() // 1_000_000

    def now(self):
        return _EPOCH + datetime.timedelta(seconds=self.seconds())

    def read(self, register, count):
        when = self.now()
        regs = self.regs
        regs[0], regs[1] = _bcd(when.second), _bcd(when.minute)
        if self.twelve_hour:
            hour12 = when.hour % 12 or 12
            regs[2] = 0x40 | (0x20 if when.hour >= 12 else 0) | _bcd(hour12)
        else:
            regs[2] = _bcd(when.hour)
        regs[3] = when.isoweekday()
        regs[4] = _bcd(when.day)
        regs[5] = _bcd(when.month) | (0x80 if when.year >= 2100 else 0)
        regs[6] = _bcd(when.year % 100)
        return bytes(regs[register:register + count])

    def write(self, register, data):
        for offset, byte in enumerate(data):
            address = register + offset
            if address == 0x0F:   # OSF can be cleared, never set, by a write
                byte = (self.regs[0x0F] & byte & 0x80) | (byte & 0x7F)
            self.regs[address] = byte
        if register <= 6:
            regs = self.regs
            year = 2000 + _unbcd(regs[6]) + (100 if regs[5] & 0x80 else 0)
            hour = (_unbcd(regs[2] & 0x1F) % 12 + (12 if regs[2] & 0x20 else 0)
                    if regs[2] & 0x40 else _unbcd(regs[2] & 0x3F))
            when = datetime.datetime(year, _unbcd(regs[5] & 0x1F), _unbcd(regs[4]),
                                     hour, _unbcd(regs[1]), _unbcd(regs[0]))
            self._set_count(seconds_since_2000(when))


class FakeStream:
    """A USB CDC end: bytes the host sent (`feed`) and what the board wrote."""

    def __init__(self):
        self.incoming = bytearray()
        self.written = bytearray()

    def feed(self, data):
        self.incoming += data

    def readinto(self, buf):
        count = min(len(buf), len(self.incoming))
        buf[:count] = self.incoming[:count]
        del self.incoming[:count]
        return count

    def write(self, data):
        self.written += data
        return len(data)


class FakePoll:
    def __init__(self):
        self.registered = []

    def register(self, stream, events):
        self.registered.append((stream, events))

    def ipoll(self, timeout):
        if timeout != 0:
            raise AssertionError("the pump loop must never block on input")
        for stream, events in self.registered:
            if stream.incoming:
                yield (stream, events & 1)
