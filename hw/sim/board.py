"""The simulated reference board: the board object of the real one, over physics.

SimBoard meets the board contract (hw/contract.py) as the reference board
(hw/pumpboard.py) does, so the controller cannot tell the two apart. The
physics (hw/sim/physics.py) and a simulation clock stand behind it; the
scenario runner (hw/sim/runner.py) moves that clock and injects faults.
`build()` of boards/sim (boards/sim/realtime.py) gives the same board
running in real time, for firmware/main.py on the MicroPython unix port.
"""
from hw.calibration import CALIBRATION_LIMITS, DEFAULT_CALIBRATION
from hw.sim.devices import Recorder, SimBuzzer, SimDS3231, SimPressure, SimStepper, SimTicks, SimTime, \
    SimWatchdog
from hw.sim.flash import FakeFlash
from hw.sim.physics import Mechanism
from hw.wallclock import WallClock
from hw.watchdog import MARGIN_MS, TIMEOUT_MS
from pump.occlusion import SENSOR_OK, SENSOR_OPEN, SENSOR_OUT_OF_RANGE, SENSOR_STUCK

# bench fault -> the transducer fault of the physics
_BENCH_SENSOR_FAULTS = {"sensor_open": SENSOR_OPEN, "sensor_stuck": SENSOR_STUCK,
                        "sensor_out_of_range": SENSOR_OUT_OF_RANGE}


class SimBoard:
    name = "sim: the reference board, simulated"
    calibration_limits = CALIBRATION_LIMITS

    def __init__(self, start_day, start_ms, seed=1, fill_nl=20_000_000, calibration=None,
                 true_steps_per_ml=None, flash=None, bench_enabled=True, rtc_drift_ppm=0):
        self.calibration = dict(DEFAULT_CALIBRATION)
        if calibration:
            self.calibration.update(calibration)
        steps_per_ml = self.calibration["steps_per_ml"]
        self.time = SimTime(start_day, start_ms)
        self.mechanism = Mechanism(seed, fill_nl, self.calibration["capacity_nl"],
                                   true_steps_per_ml or steps_per_ml)
        self.stepper = SimStepper(self.time, self.mechanism)
        self.pressure = SimPressure(self.time, self.mechanism)
        self.rtc = SimDS3231(self.time, rtc_drift_ppm)
        self.buzzer = SimBuzzer(self.time)
        self.lamps = Recorder(self.time)
        self.watchdog = SimWatchdog(TIMEOUT_MS - MARGIN_MS)
        self.fs = flash if flash is not None else FakeFlash()
        if hasattr(self.fs, "spend_ms"):
            self.fs.spend_ms = self.spend  # a flash write takes its ms here too
        self.boots = 0
        self.reboot()
        self.serial = None
        self.device_key = None
        self.startup_faults = []
        self.bench_enabled = bench_enabled
        self.supply = 5000  # mV on VSYS (USB)
        self.temperature = 25_000  # milli-degC
        self.ack_latched = False
        self.serial_number = "SIM-%06d" % seed  # a simulated pump's serial, on its refill card
        self.reset_requested = None  # the bench `restart` or `crash`, for the shell to carry out
        self._bench = None  # (fault, supply, temperature) while a bench fault is injected

    def reboot(self):
        """The MCU starts (power-up or after a cut): its ticks start afresh
        at a count unrelated to the wall time, and the wall clock finds the
        DS3231's second edge again (which takes up to a second, as on the
        board)."""
        self.boots += 1
        self.ticks = SimTicks(self.time, self.spend, start=self.boots * 7_777_777)
        self.clock = self.make_clock()
        self.stepper.clock, self.stepper.ticks = self.clock, self.ticks

    def make_clock(self):
        return WallClock(self.rtc, self.ticks)

    def spend(self, ms):
        """Time the firmware spends (a sleep, a flash write) passes through
        `pass_time`, which the scenario runner points at its physics, so
        pulses go out meanwhile."""
        self.pass_time(ms)

    def pass_time(self, ms):
        self.time.t_ms += ms

    def end_of_travel(self):
        return self.mechanism.end_of_travel()

    def at_home(self):
        return False

    def ack_pressed(self):
        pressed = self.ack_latched
        self.ack_latched = False
        return pressed

    def press_ack(self):
        self.ack_latched = True

    def supply_mv(self):
        return self.supply

    def temperature_mc(self):
        return self.temperature

    def inject(self, fault, value=None):
        """Bench fault injection (pump.bench), as the reference board does
        it, on the physics: one fault at a time, `clear` ends it. A forced
        stall also stops the simulated plunger (a jam, as DIAG would report
        it); an occlusion blocks the simulated catheter, whose pressure then
        rises with the volume pushed, with the sensor's noise, and clearing
        it releases what is still trapped. A restart, or a crash (an
        exception out of the loop, logged by main.py before its reset), is
        requested of the shell (reset_requested), once the reply is out."""
        mech = self.mechanism
        if self._bench is not None:  # undo the fault before
            before, self.supply, self.temperature = self._bench
            self._bench = None
            mech.sensor_fault = SENSOR_OK
            self.rtc.failing = False
            self.fs.refuse_writes(0)
            if before == "occlusion":
                mech.clear_occlusion()
        mech.forced_mpsi = value if fault == "pressure" else None
        mech.stalled = fault == "stall"
        mech.forced_empty = fault == "empty"
        self.reset_requested = fault if fault in ("restart", "crash") else None
        if fault == "clear":
            return
        self._bench = (fault, self.supply, self.temperature)
        if fault == "occlusion":
            mech.occlude()
        elif fault in _BENCH_SENSOR_FAULTS:
            mech.sensor_fault = _BENCH_SENSOR_FAULTS[fault]
        elif fault == "low_battery":
            self.supply = value
        elif fault == "temperature":
            self.temperature = value
        elif fault == "clock":
            self.rtc.failing = True  # the DS3231 stops answering, as on the board
        elif fault == "storage":
            self.fs.refuse_writes(1)

    def selftest(self, alarm_patterns):
        """Moving the motor and waiting on the buzzer take real time, which
        the scenario runner's clock does not have (the real-time board does)."""
        return [("selftest", "skip", "runs on a board, or the real-time simulated board")]

    def sleep_until(self, ms_from_now):
        """The runner owns simulated time; the board never sleeps by itself."""

    @staticmethod
    def reset():
        raise SystemExit("reset")
