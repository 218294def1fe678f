"""The reference pump on a Raspberry Pi Pico-family board: `build(pins, config)`
wires each driver to the pins of a board folder's pin map.

What differs from one such board to the next (which GPIO does what, the
board's name, paths and timings) is in its folder, boards/NAME/pins.py and
config.py; everything else is here, shared: the board object, the generic
sleep that wakes early for a button press or a serial line, bench fault
injection, the calibration and device-key files, the start-up faults and the
panic of a board that cannot even be built. The board object meets the board
contract (hw/contract.py), as the simulated board (hw/sim/board.py) does, so
the pump controller cannot tell them apart.

Start-up faults (a DS3231 that does not answer, a pressure sensor reading
open circuit, a calibration file that is refused) do not stop the build: each is collected
in `startup_faults` as (alarm kind, detail) for the controller to raise and
log, because a pump that refuses to boot stops intrathecal baclofen abruptly,
which is the hazard the monograph warns about most.
"""
import binascii
import errno
import micropython
import select
import sys
import time

from machine import ADC, I2C, PWM, WDT, Pin, lightsleep, reset

from hw import calibration, selftest
from hw.analog import DieTemperature, SupplyMonitor
from hw.buzzer import Buzzer
from hw.ds3231 import DS3231
from hw.faults import StartupFault
from hw.flashfs import FlashFS
from hw.keyfile import read_key
from hw.lamps import Lamps
from hw.pressure import PressureSensor
from hw.stepper import Stepper
from hw.switches import DebouncedButton, LimitSwitch
from hw.usb_serial import LineChannel
from hw.wallclock import WallClock
from hw.watchdog import TIMEOUT_MS, Watchdog

TYPE_CHECKING = False
if TYPE_CHECKING:  # for pyright: MicroPython has no typing module (annotations are strings)
    from typing import NoReturn

_REPLY_DRAIN_MS = 200  # USB CDC sends the last reply before a bench reset


class _BenchRTC:
    """The DS3231 as the wall clock reads it, on a board booted in bench
    mode: `silent` (the bench `clock` fault) makes it stop answering, as a
    cut I2C wire would, so hw/wallclock.py sees exactly that."""

    silent = False

    def __init__(self, rtc):
        self._rtc = rtc

    @property
    def oscillator_stopped(self):
        return self._rtc.oscillator_stopped

    @property
    def day(self):
        return self._rtc.day

    @property
    def second(self):
        return self._rtc.second

    def read(self):
        if _BenchRTC.silent:
            raise OSError(errno.ETIMEDOUT)
        self._rtc.read()

    def write(self, day, second_of_day):
        if _BenchRTC.silent:
            raise OSError(errno.ETIMEDOUT)
        self._rtc.write(day, second_of_day)


class Board:
    """A built board; `name` and `calibration_limits` (what a calibration
    file may say) are its config's NAME and CALIBRATION_LIMITS."""

    @property
    def serial_number(self):
        """The flash chip's unique id in hex: the pump's serial on its
        refill card (asked only then, so a board without one still runs)."""
        import machine
        return binascii.hexlify(machine.unique_id()).decode()

    def __init__(self, name, calibration_limits, stepper, pressure, end_switch, home_switch, buzzer, lamps,
                 ack, supply, die_temperature, clock, watchdog, fs, serial, calibration,
                 bench_enabled, device_key, startup_faults, bench_line_mpsi_per_ul,
                 use_lightsleep=False, sleep_slice_ms=20, service_mode=False):
        self.name = name
        self.calibration_limits = calibration_limits
        self.stepper = stepper
        self.pressure = pressure
        self.buzzer = buzzer
        self.lamps = lamps
        self.clock = clock
        self.watchdog = watchdog
        self.fs = fs
        self.serial = serial
        self.calibration = calibration
        self.bench_enabled = bench_enabled
        self.service_mode = service_mode
        self.device_key = device_key
        self.startup_faults = startup_faults
        self._end_switch = end_switch
        self._home_switch = home_switch
        self._ack = ack
        self._supply = supply
        self._die_temperature = die_temperature
        self._use_lightsleep = use_lightsleep
        self._sleep_slice_ms = sleep_slice_ms
        self._bench_line_mpsi_per_ul = bench_line_mpsi_per_ul
        self.wakes = 0  # ends of sleep slices: watchdog feeds without a controller pass
        self.inject("clear")

    def inject(self, fault, value=None):
        """Bench fault injection (pump.bench; the protocol refuses `bench`
        unless the BENCH-ENABLE jumper was fitted at boot). One fault at a
        time, each as the hardware would show it: the pressure reading or
        the transducer (hw/pressure.py; a blocked line rises by the config's
        BENCH_LINE_MPSI_PER_UL per uL pushed), DIAG, the end-of-travel
        switch, VSYS (`value` mV), the die temperature (`value` milli-degC),
        a DS3231 that stops answering, a flash write that fails, and once
        the reply is out a reset (`restart`) or a crash: an exception out of
        the loop, which main.py logs and resets on. `clear` ends them all."""
        rise_x1000 = self._bench_line_mpsi_per_ul * 1_000_000 // self.calibration["steps_per_ml"]
        self.pressure.inject(fault, value, self.stepper, rise_x1000)
        self.stepper.forced_stall = fault == "stall"
        self._forced_empty = fault == "empty"
        self._forced_supply_mv = value if fault == "low_battery" else None
        self._forced_temperature_mc = value if fault == "temperature" else None
        _BenchRTC.silent = fault == "clock"
        self.fs.refuse_writes(1 if fault == "storage" else 0)
        self._reset_pending = fault if fault in ("restart", "crash") else None

    def end_of_travel(self):
        return self._forced_empty or self._end_switch.active()

    def at_home(self):
        return self._home_switch.active()

    def ack_pressed(self):
        return self._ack.pressed()

    def supply_mv(self):
        forced = self._forced_supply_mv
        return self._supply.read_mv() if forced is None else forced

    def temperature_mc(self):
        forced = self._forced_temperature_mc
        return self._die_temperature.read_mc() if forced is None else forced

    def sleep_until(self, ms_from_now):
        """Sleep `ms_from_now` ms: in slices of at most the watchdog's
        max_sleep_ms, feeding it between them. A slice's end is a board
        wake-up that costs a feed, not a controller pass (no sensors, no
        I2C, no flash): the controller asks for a pass at most a minute
        apart, the watchdog for a feed every few seconds.

        Returns early when an ACK press or a serial line is waiting, so the
        controller answers a user within a slice (the config's SLEEP_SLICE_MS), not
        a wake-up interval. lightsleep (if enabled) is used only when nothing
        runs in the background: it stops the PIO that times the steps and the
        PWM that sounds the buzzer.
        """
        if self._reset_pending:  # the bench `restart` or `crash`: its reply is out by now
            time.sleep_ms(_REPLY_DRAIN_MS)
            if self._reset_pending == "crash":
                raise RuntimeError("bench crash")
            reset()
        left_ms = ms_from_now
        while left_ms > 0:
            sleep_ms = left_ms if left_ms < self.watchdog.max_sleep_ms else self.watchdog.max_sleep_ms
            if self._sleep(sleep_ms):
                return
            self.watchdog.feed()
            self.wakes += 1
            left_ms -= sleep_ms

    def _sleep(self, sleep_ms):
        """One slice; True when a user is waiting."""
        if self._use_lightsleep and self._quiet():
            lightsleep(sleep_ms)
            return self._ack.press_waiting() or self.serial.input_waiting()
        deadline = time.ticks_add(time.ticks_ms(), sleep_ms)
        while not (self._ack.press_waiting() or self.serial.input_waiting()):
            left_ms = time.ticks_diff(deadline, time.ticks_ms())
            if left_ms <= 0:
                return False
            time.sleep_ms(left_ms if left_ms < self._sleep_slice_ms else self._sleep_slice_ms)
        return True

    def selftest(self, alarm_patterns):
        """Bring-up self-test (protocol `selftest`): see hw/selftest.py."""
        return selftest.run(self, alarm_patterns)

    @staticmethod
    def reset() -> "NoReturn":
        """After a crash: reboot into restore, where the restart is alarmed."""
        reset()

    def _quiet(self):
        return not (self.stepper.pending() or self.buzzer.playing or self.lamps.flashing)


def panic(pins, config):
    """The board could not even be built: with the pins alone, light the red
    lamp and sound the buzzer steadily, deliver nothing, and keep the
    watchdog (which build() may have started) fed, so the failure is loud
    and not a silent reset loop. Only a person ends it. With the service
    jumper fitted it returns instead, the console open, so that main.py
    ends in the REPL where the engineer can see and repair what failed."""
    Pin(pins.ENABLE, Pin.OUT, value=1)  # EN is active low: the motor unpowered
    Pin(pins.LAMP_RED, Pin.OUT, value=1)
    buzzer = PWM(Pin(pins.BUZZER))
    buzzer.freq(config.BUZZER_TONE_HZ)
    buzzer.duty_u16(32768)
    if Pin(pins.SERVICE, Pin.IN, Pin.PULL_UP).value() == 0:
        micropython.kbd_intr(3)
        return
    watchdog = WDT(timeout=TIMEOUT_MS)
    while True:
        watchdog.feed()
        time.sleep_ms(1000)


class _NoWatchdog:
    """Service mode starts no hardware watchdog: once started it cannot be
    stopped, and it would reset the board under the engineer at the REPL.
    Nothing is delivered in service mode, so there is no dose to protect."""

    @staticmethod
    def feed():
        return None


def build(pins, config):
    """The board of the pin map `pins` and the config `config` (the modules
    of a board folder); see the module docstring for what each holds."""
    faults = []
    # Lets an exception raised in a hard IRQ handler (stepper, DIAG) be reported.
    micropython.alloc_emergency_exception_buf(100)
    service_mode = Pin(pins.SERVICE, Pin.IN, Pin.PULL_UP).value() == 0
    watchdog = Watchdog(_NoWatchdog() if service_mode else WDT(timeout=TIMEOUT_MS))
    cal, problem = calibration.load(config.CALIBRATION_PATH, config.DEFAULT_CALIBRATION,
                                    config.CALIBRATION_LIMITS)
    if problem is not None:
        faults.append(("storage_fault", problem))

    end_switch = LimitSwitch(Pin(pins.END_OF_TRAVEL, Pin.IN, Pin.PULL_UP))
    home_switch = LimitSwitch(Pin(pins.HOME, Pin.IN, Pin.PULL_UP))
    stepper = Stepper(pins.STEPPER_STATE_MACHINE, Pin(pins.STEP), Pin(pins.DIR, Pin.OUT, value=0),
                      Pin(pins.ENABLE, Pin.OUT, value=1), Pin(pins.DIAG, Pin.IN, Pin.PULL_DOWN),
                      forward_dir_level=config.FORWARD_DIR_LEVEL, capacity=config.STEP_QUEUE,
                      forward_limit=end_switch, reverse_limit=home_switch)
    end_switch.on_reached(lambda: stepper.halt_toward(True))
    home_switch.on_reached(lambda: stepper.halt_toward(False))

    pressure = PressureSensor(ADC(Pin(pins.PRESSURE)), cal["pressure_zero_u16"],
                              cal["pressure_span_u16"], config.PRESSURE_FULL_SCALE_MPSI)
    _collect(faults, pressure.check)

    i2c = I2C(pins.I2C_BUS, sda=Pin(pins.I2C_SDA), scl=Pin(pins.I2C_SCL), freq=config.I2C_FREQ_HZ)
    rtc = _collect(faults, DS3231, i2c)
    bench_enabled = Pin(pins.BENCH_ENABLE, Pin.IN, Pin.PULL_UP).value() == 0
    if bench_enabled and rtc is not None:
        rtc = _BenchRTC(rtc)
    key, problem = _read_device_key(config.DEVICE_KEY_PATH)
    if problem is not None:
        faults.append(("storage_fault", problem))

    clock = WallClock(rtc)
    stepper.clock = clock  # pulses are timed from the reading they were planned for
    return Board(
        name=config.NAME,
        calibration_limits=config.CALIBRATION_LIMITS,
        stepper=stepper,
        pressure=pressure,
        end_switch=end_switch,
        home_switch=home_switch,
        buzzer=Buzzer(PWM(Pin(pins.BUZZER)), config.BUZZER_TONE_HZ),
        lamps=Lamps(Pin(pins.LAMP_RED, Pin.OUT), Pin(pins.LAMP_YELLOW, Pin.OUT),
                    Pin(pins.LAMP_GREEN, Pin.OUT)),
        ack=DebouncedButton(Pin(pins.ACK, Pin.IN, Pin.PULL_UP), config.ACK_SETTLE_MS),
        supply=SupplyMonitor(ADC(Pin(pins.VSYS))),
        die_temperature=DieTemperature(ADC(pins.TEMPERATURE_CHANNEL)),
        clock=clock,
        watchdog=watchdog,
        fs=FlashFS(config.DATA_DIR),
        serial=LineChannel(sys.stdin.buffer, sys.stdout.buffer, select.poll(), select.POLLIN),
        calibration=cal,
        bench_enabled=bench_enabled,
        device_key=key,
        startup_faults=faults,
        bench_line_mpsi_per_ul=config.BENCH_LINE_MPSI_PER_UL,
        use_lightsleep=config.USE_LIGHTSLEEP,
        sleep_slice_ms=config.SLEEP_SLICE_MS,
        service_mode=service_mode,
    )


def _collect(faults, start, *args):
    """start(*args), or None with its StartupFault recorded."""
    try:
        return start(*args)
    except StartupFault as fault:
        faults.append((fault.kind, fault.detail))
        return None


def _read_device_key(path):
    """(key bytes or None, problem or None). No file: an unprovisioned board."""
    try:
        return read_key(path), None
    except OSError:
        return None, None
    except ValueError as exc:
        return None, "device key %s %s" % (path, exc)

