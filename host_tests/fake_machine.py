"""Fakes of MicroPython's `machine` (rp2 port, 1.24 API) and `time` extensions for CPython tests.

The drivers in hw/ and boards/refpump_rp2040 import `machine`, `rp2`,
`micropython` and the MicroPython extensions of `time` (ticks_ms,
ticks_diff, sleep_ms...). Inside `installed()` those resolve to fakes, all
driven by one simulated clock in microseconds, so a test can say "advance
2.5 s" and then look at what each pin did and when:

    with fake_machine.installed() as hw:
        stepper = hw.load("hw.stepper")
        ...
        hw.advance_ms(100)
        hw.pin(2).rising_edges_us()

What is simulated, and how faithfully:
  - Pin: outputs record every level change with its time; inputs read what
    the test drives (`hw.drive(pin, level)`) or their pull; edges fire the
    registered IRQ handler (hard and soft alike, synchronously).
  - Timer: virtual timers firing at their due time; `hard=` is refused, as
    MicroPython 1.24's rp2 Timer has no such argument.
  - ADC channels return what the test wires to them; I2C talks to device
    fakes (fake_devices.py) by address, takes the bus time of its bytes, and
    raises OSError(ENODEV) where nothing answers; WDT refuses rp2's illegal timeouts and records the
    longest gap between feeds; lightsleep advances time with PIO frozen, as
    the real one stops it.
  - `rp2` is fake_rp2.py: it runs the drivers' PIO programs cycle by cycle.
  - The USB console (UsbConsole) turns the interrupt character set with
    micropython.kbd_intr into KeyboardInterrupt, as the chip's USB stack does.

The calls themselves are unittest.mock objects (`hw.machine.lightsleep` etc.)
where a test wants to assert on how they were called.
"""
import contextlib
import importlib
import sys
import time
import types
from unittest import mock

import fake_devices
import fake_rp2
from hw.sim.devices import TICKS_PERIOD, SimTicks  # ticks_ms/ticks_us wrap at TICKS_PERIOD on the rp2 port
ENODEV = 19
EIO = 5
_world = None   # the World of the `installed()` block being run


class World:
    """Simulated time and the state of every fake peripheral."""

    def __init__(self, start_us):
        self.now_us = start_us
        self.pins = {}
        self.timers = []
        self.state_machines = {}
        self.pio_flags = [0, 0]
        self.pwms = {}
        self.adc = {}
        self.i2c_devices = {}
        self.irq_masked = False
        self.interrupt_char = 3   # micropython.kbd_intr: Ctrl-C while a script runs, until changed
        self.keyboard_interrupt_pending = False
        self.wdt = None
        self.machine = None
        self.rp2 = None

    # MicroPython's time extensions, rp2 flavour (period 2**30).
    def ticks_ms(self):
        return (self.now_us // 1000) % TICKS_PERIOD

    def ticks_us(self):
        return self.now_us % TICKS_PERIOD

    ticks_add = staticmethod(SimTicks.ticks_add)  # the same wrap arithmetic as the simulated board's
    ticks_diff = staticmethod(SimTicks.ticks_diff)

    def sleep_ms(self, ms):
        self.advance_us(ms * 1000)

    def sleep_us(self, us):
        self.advance_us(us)

    # Test-side controls.
    def load(self, name):
        return importlib.import_module(name)

    def advance_ms(self, ms):
        self.advance_us(ms * 1000)

    def advance_us(self, us, run_pio=True):
        if self.irq_masked:
            raise AssertionError("time passes with IRQs disabled")
        if self.keyboard_interrupt_pending:  # the running code sees it at its next step
            self.keyboard_interrupt_pending = False
            raise KeyboardInterrupt
        end = self.now_us + us
        while True:
            due, action = self._next_event(end, run_pio)
            if action is None:
                break
            self.now_us = due
            action()
        self.now_us = end

    def pin(self, pin_id):
        return self.pins[pin_id]

    def drive(self, pin_id, level):
        """An external signal on an input pin (a switch, DIAG, a button)."""
        FakePin(pin_id).drive(level)

    def _next_event(self, end, run_pio):
        best_due, best = None, None
        for timer in self.timers:
            if timer.due_us <= end and (best_due is None or timer.due_us < best_due):
                best_due, best = timer.due_us, timer.fire
        if run_pio:
            for sm in self.state_machines.values():
                due = sm.next_cycle_us
                if due is not None and due <= end and (best_due is None or due < best_due):
                    best_due, best = due, sm.cycle
        return best_due, best


# ---------------------------------------------------------------- machine

class FakePin:
    IN, OUT, OPEN_DRAIN, ALT = 0, 1, 2, 3
    PULL_UP, PULL_DOWN = 1, 2
    IRQ_FALLING, IRQ_RISING = 4, 8

    def __new__(cls, pin_id, *args, **kwargs):
        pin = _world.pins.get(pin_id)
        if pin is None:
            pin = object.__new__(cls)
            pin.id = pin_id
            pin.mode = cls.IN
            pin.pull = None
            pin.level = 0
            pin.driven = None
            pin.handler = None
            pin.trigger = 0
            pin.hard = False
            pin.history = []
            _world.pins[pin_id] = pin
        return pin

    def __init__(self, pin_id, mode=-1, pull=-1, *, value=None):
        if mode != -1:
            self.mode = mode
        if pull != -1:
            self.pull = pull
        if value is not None:
            self._set(value)
        elif self.mode == self.IN and self.driven is None:
            self._set(1 if self.pull == self.PULL_UP else 0)

    def value(self, level=None):
        if level is None:
            return self.level
        self._set(1 if level else 0)
        return None

    def toggle(self):
        self._set(1 - self.level)

    def irq(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING, hard=False):
        self.handler, self.trigger, self.hard = handler, trigger, hard

    def drive(self, level):
        self.driven = level
        self._set(level)

    def rising_edges_us(self):
        return [t for t, level in self.history if level == 1]

    def falling_edges_us(self):
        return [t for t, level in self.history if level == 0]

    def level_before(self, t_us):
        """The level the pin held just before t_us: what a device that acts
        on an edge at t_us (the TMC2209 on STEP) saw on this pin. A change at
        t_us itself comes after the edge; a pin never set reads 0."""
        level = 0
        for when, new_level in self.history:
            if when >= t_us:
                break
            level = new_level
        return level

    def _set(self, level):
        if level == self.level:
            return
        self.level = level
        self.history.append((_world.now_us, level))
        edge = self.IRQ_RISING if level else self.IRQ_FALLING
        if self.handler is not None and self.trigger & edge:
            self.handler(self)


class FakeTimer:
    ONE_SHOT, PERIODIC = 0, 1

    def __init__(self, timer_id=-1, **kwargs):
        if timer_id != -1:
            raise ValueError("Timer doesn't exist")  # rp2: virtual timers only
        self.due_us = None
        self.callback = None
        if kwargs:
            self.init(**kwargs)

    def init(self, *, mode=PERIODIC, period=-1, tick_hz=1000, freq=None, callback=None, **rest):
        if rest:
            raise TypeError("unexpected keyword argument(s) %s for rp2 Timer (MicroPython 1.24)" % sorted(rest))
        self.deinit()
        period_us = 1_000_000 // freq if freq else period * 1_000_000 // tick_hz
        self.mode, self.period_us, self.callback = mode, max(1, period_us), callback
        self.due_us = _world.now_us + self.period_us
        _world.timers.append(self)

    def deinit(self):
        if self in _world.timers:
            _world.timers.remove(self)

    @property
    def active(self):
        return self in _world.timers

    def fire(self):
        if self.mode == self.PERIODIC:
            self.due_us += self.period_us
        else:
            _world.timers.remove(self)
        if self.callback is not None:
            self.callback(self)


class FakePWM:
    def __init__(self, pin, freq=None, duty_u16=None):
        self.pin = pin
        self.frequency = 0
        self.duty = 0
        self.history = []   # (t_us, duty_u16)
        if freq is not None:
            self.freq(freq)
        if duty_u16 is not None:
            self.duty_u16(duty_u16)
        _world.pwms[pin.id] = self

    def freq(self, value=None):
        if value is None:
            return self.frequency
        self.frequency = value
        return None

    def duty_u16(self, value=None):
        if value is None:
            return self.duty
        if value != self.duty:
            self.duty = value
            self.history.append((_world.now_us, value))
        return None

    def deinit(self):
        self.duty_u16(0)


class FakeADC:
    CORE_TEMP = 4

    def __init__(self, source):
        if isinstance(source, FakePin):
            if not 26 <= source.id <= 29:
                raise ValueError("Pin doesn't have ADC capabilities")
            self.channel = source.id - 26
        elif 0 <= source <= 4:
            self.channel = source
        elif 26 <= source <= 29:
            self.channel = source - 26
        else:
            raise ValueError("invalid channel")

    def read_u16(self):
        source = _world.adc.get(self.channel)
        if source is None:
            raise AssertionError("ADC channel %d is not wired in this test" % self.channel)
        value = source() if callable(source) else source
        if not 0 <= value <= 65535:
            raise AssertionError("read_u16 out of range: %r" % value)
        return value


class FakeI2C:
    def __init__(self, bus_id, *, sda=None, scl=None, freq=400_000):
        self.bus_id, self.sda, self.scl, self.frequency = bus_id, sda, scl, freq

    def _device(self, address):
        device = _world.i2c_devices.get(address)
        if device is None:
            raise OSError(ENODEV, "ENODEV")
        if device.failing:
            raise OSError(EIO, "EIO")
        return device

    def _spend(self, count):
        """The bus time of a transaction (address, register, data, restart):
        9 clocks a byte. A device latches what it sends at the start."""
        _world.advance_us((count + 3) * 9 * 1_000_000 // self.frequency)

    def readfrom_mem_into(self, address, register, buf):
        data = self._device(address).read(register, len(buf))
        buf[:] = data
        self._spend(len(buf))

    def readfrom_mem(self, address, register, count):
        data = self._device(address).read(register, count)
        self._spend(count)
        return data

    def writeto_mem(self, address, register, buf):
        self._device(address).write(register, bytes(buf))
        self._spend(len(buf))

    def scan(self):
        return sorted(_world.i2c_devices)


class FakeWDT:
    MAX_TIMEOUT_MS = 8388   # RP2040

    def __init__(self, wdt_id=0, timeout=5000):
        if wdt_id != 0:
            raise ValueError("WDT(%d) doesn't exist" % wdt_id)
        if timeout > self.MAX_TIMEOUT_MS:
            raise ValueError("timeout exceeds %d" % self.MAX_TIMEOUT_MS)
        self.timeout_ms = timeout
        self.feeds = 0
        self.last_feed_us = _world.now_us
        self.longest_gap_us = 0
        _world.wdt = self

    def feed(self):
        self._note_gap()
        self.feeds += 1
        self.last_feed_us = _world.now_us

    def longest_gap_ms(self):
        self._note_gap()
        return self.longest_gap_us // 1000

    def _note_gap(self):
        self.longest_gap_us = max(self.longest_gap_us, _world.now_us - self.last_feed_us)


def _machine_module(world):
    machine = types.ModuleType("machine")
    machine.Pin = FakePin
    machine.Timer = FakeTimer
    machine.PWM = FakePWM
    machine.ADC = FakeADC
    machine.I2C = FakeI2C
    machine.WDT = FakeWDT

    def disable_irq():
        was, world.irq_masked = world.irq_masked, True
        return was

    def enable_irq(state):
        world.irq_masked = state

    machine.disable_irq = mock.Mock(side_effect=disable_irq)
    machine.enable_irq = mock.Mock(side_effect=enable_irq)
    # lightsleep stops clk_sys: PIO and PWM freeze; the timer alarm wakes it.
    machine.lightsleep = mock.Mock(side_effect=lambda ms: world.advance_us(ms * 1000, run_pio=False))
    machine.reset = mock.Mock()  # the tests look at whether the firmware asked for it
    machine.unique_id = lambda: b"\xe6\x61\x38\x52\x83\x1f\x4a\x2c"  # the flash chip's 8-byte id
    return machine


class UsbConsole(fake_devices.FakeStream):
    """The receive side of the RP2040's USB console as MicroPython runs it:
    the byte equal to the interrupt character (micropython.kbd_intr) never
    reaches stdin; it raises KeyboardInterrupt in whatever code runs, here
    the next time fake time moves. With kbd_intr(-1) every byte is data."""

    def feed(self, data):
        for byte in data:
            if byte == _world.interrupt_char:
                _world.keyboard_interrupt_pending = True
            else:
                self.incoming.append(byte)


def _micropython_module(world):
    micropython = types.ModuleType("micropython")
    micropython.const = lambda value: value
    micropython.alloc_emergency_exception_buf = mock.Mock()

    def kbd_intr(char):
        world.interrupt_char = char

    micropython.kbd_intr = mock.Mock(side_effect=kbd_intr)
    return micropython


# ---------------------------------------------------------------- install

_OWN_MODULES = ("hw", "boards.refpump_rp2040")


def _evict_driver_modules():
    for name in list(sys.modules):
        for prefix in _OWN_MODULES:
            if (name == prefix or name.startswith(prefix + ".")) and not name.startswith("hw.sim"):
                del sys.modules[name]


@contextlib.contextmanager
def installed(start_ms=1_000_000):
    """Fake `machine`, `rp2` and MicroPython's `time` extensions for a block.

    Driver modules imported inside are evicted afterwards, so every block
    starts from fresh module state; the pump logic's modules are left alone.
    """
    global _world
    world = World(start_ms * 1000)
    world.machine = _machine_module(world)
    world.rp2 = fake_rp2.module()
    world.micropython = _micropython_module(world)
    time_patches = [mock.patch.object(time, name, getattr(world, name), create=True)
                    for name in ("ticks_ms", "ticks_us", "ticks_add", "ticks_diff", "sleep_ms", "sleep_us")]
    _evict_driver_modules()
    fakes = {"machine": world.machine, "rp2": world.rp2, "micropython": world.micropython}
    saved = {name: sys.modules.get(name) for name in fakes}
    sys.modules.update(fakes)
    for patch in time_patches:
        patch.start()
    _world = world
    try:
        yield world
    finally:
        _world = None
        for patch in reversed(time_patches):
            patch.stop()
        for name, module in saved.items():
            if module is None:
                del sys.modules[name]
            else:
                sys.modules[name] = module
        _evict_driver_modules()
