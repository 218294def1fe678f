"""The simulated reference board: the board object of the real one, over physics.

`build()` gives the same attributes as boards/refpump_rp2040/board.py, so
firmware/main.py and the controller cannot tell the two apart. The physics
(hw/sim/physics.py) and a simulation clock stand behind them; the runner
(hw/sim/runner.py) moves time and injects faults.
"""
from hw.sim.devices import Recorder, SimClock, SimPressure, SimStepper, SimTime, SimWatchdog
from hw.sim.flash import FakeFlash
from hw.sim.physics import Mechanism

# The reference board's mechanism (DESIGN.md section 2).
CALIBRATION = {
    "steps_per_ml": 12_732,
    "capacity_nl": 20_000_000,
    "bolus_rate_nl_per_h": 10_000_000,  # 10 mL/h for clinician boluses
}


class SimBoard:
    def __init__(self, start_day, start_ms, seed=1, fill_nl=20_000_000, calibration=None,
                 true_steps_per_ml=None, flash=None, bench_enabled=True):
        self.calibration = dict(CALIBRATION)
        if calibration:
            self.calibration.update(calibration)
        steps_per_ml = self.calibration["steps_per_ml"]
        self.time = SimTime(start_day, start_ms)
        self.mechanism = Mechanism(seed, fill_nl, self.calibration["capacity_nl"],
                                   true_steps_per_ml or steps_per_ml)
        self.stepper = SimStepper(self.time, self.mechanism)
        self.pressure = SimPressure(self.time, self.mechanism)
        self.clock = SimClock(self.time)
        self.buzzer = Recorder(self.time)
        self.lamps = Recorder(self.time)
        self.watchdog = SimWatchdog()
        self.fs = flash if flash is not None else FakeFlash()
        self.serial = None
        self.bench_enabled = bench_enabled
        self.supply = 5000  # mV on VSYS (USB)
        self.temperature = 25_000  # milli-degC
        self.ack_latched = False

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

    def inject(self, fault, mpsi=None):
        """Bench fault injection (protocol `bench`, bench jumper only)."""
        mech = self.mechanism
        if fault == "pressure":
            mech.forced_mpsi = mpsi
        elif fault == "stall":
            mech.stalled = True
        elif fault == "empty":
            mech.forced_empty = True
        else:
            mech.forced_mpsi, mech.stalled, mech.forced_empty = None, False, False

    def sleep_until(self, ms_from_now):
        """The runner owns simulated time; the board never sleeps by itself."""


def build(**options):
    """The board main.py boots on when deployed to the MicroPython unix port."""
    return SimBoard(**options)
