"""What the controller checks at every wake-up, and how each finding acts.

Each check turns a board reading into an alarm condition (raised or
cleared) and, for the hazards that make delivery unsafe or impossible, a
stop of delivery. The stop is what keeps the pump honest: an occluded line,
a stalled motor or an empty reservoir is not delivering, so the pump says
so (delivery_stopped) instead of counting steps that do not arrive.

What does not stop delivery, and why:
- a pressure-sensor fault: occlusion can no longer be seen, so the alarm is
  high; but stopping would turn a monitoring fault into a certain withdrawal
  (the monograph's abrupt-stop row), while the end-of-travel switch and the
  accounting still guard the reservoir;
- low reservoir, low battery, board temperature, clock fault: warnings.
"""
from pump import alarms
from pump.compat import const
from pump.druglib import BACLOFEN_INTRATHECAL
from pump.occlusion import LINE_OCCLUDED, OcclusionDetector, SensorMonitor, SENSOR_OK
from pump.stops import STOP_EMPTY, STOP_OCCLUSION, STOP_STALL

LOW_SUPPLY_MV = const(3_500)      # VSYS: a LiPo near the end of its charge
SUPPLY_OK_MV = const(3_600)       # hysteresis, so a sagging cell does not chatter
_STORAGE = BACLOFEN_INTRATHECAL["storage"]  # the monograph's 2-30 C
TEMPERATURE_MIN_MC = _STORAGE["min_mdeg_c"]
TEMPERATURE_MAX_MC = _STORAGE["max_mdeg_c"]
TEMPERATURE_HYSTERESIS_MC = const(500)


class Monitor:
    def __init__(self, steps_per_ml):
        self.occlusion = OcclusionDetector(steps_per_ml)
        self.sensor = SensorMonitor()
        self.supply_low = False
        self.temperature_out = False
        self.stall_mark = 0  # steps out of the driver when a stalled pump last stood still

    def restart(self):
        """Delivery (re)starts: pressure history from before means nothing."""
        self.occlusion.reset()

    def check(self, ctl, now_s):
        board, am = ctl.board, ctl.alarms
        self._check_motor(ctl, now_s)
        self._check_pressure(ctl, board.pressure.read_mpsi(), now_s)
        self._check_reservoir(ctl, now_s)
        self._condition(am, alarms.CLOCK_FAULT, not board.clock.valid(), now_s)
        self._check_supply(am, board.supply_mv(), now_s)
        self._check_temperature(am, board.temperature_mc(), now_s)

    def resumable(self, ctl, lifts):
        """Of the stops a person's act `lifts` (pump.stops: LIFTED_BY_ACK or
        LIFTED_BY_RESUME), those it may lift now: an occlusion
        only once its pressure is back to baseline. A stall is lifted at once
        (the next steps will show whether the motor turns again; its alarm
        stays until they do)."""
        if ctl.alarms.condition_present(alarms.OCCLUSION):
            return lifts & ~STOP_OCCLUSION
        return lifts

    @staticmethod
    def _condition(am, kind, present, now_s):
        if present:
            am.raise_(kind, now_s)
        elif am.condition_present(kind):
            am.clear(kind, now_s)

    def _check_motor(self, ctl, now_s):
        """A stall stops delivery; its alarm ends only when steps have gone
        out since the retry with DIAG low, so a retried motor that still
        does not turn is never shown as fine in between."""
        stepper = ctl.board.stepper
        if stepper.stalled() and ctl.delivering:
            ctl.alarms.raise_(alarms.MOTOR_STALL, now_s)
            ctl.stop(STOP_STALL, now_s)
        elif ctl.alarms.condition_present(alarms.MOTOR_STALL):
            out = ctl.reservoir.used_steps - stepper.pending()
            if not ctl.delivering or out < self.stall_mark:  # standing still, or a refill restarted the count
                self.stall_mark = out
            elif out > self.stall_mark:
                ctl.alarms.clear(alarms.MOTOR_STALL, now_s)

    def _check_pressure(self, ctl, pressure_mpsi, now_s):
        am = ctl.alarms
        fault = self.sensor.sample(pressure_mpsi)
        self._condition(am, alarms.PRESSURE_SENSOR_FAULT, fault != SENSOR_OK, now_s)
        if fault != SENSOR_OK:
            return
        detector = self.occlusion
        if ctl.delivering:
            if detector.sample(pressure_mpsi, ctl.board.stepper.emitted) == LINE_OCCLUDED:
                am.raise_(alarms.OCCLUSION, now_s)
                ctl.stop(STOP_OCCLUSION, now_s)
                ctl.back_off(detector.backoff_steps())
        elif ctl.stop_mask & STOP_OCCLUSION and am.condition_present(alarms.OCCLUSION):
            if detector.at_baseline(pressure_mpsi):
                am.clear(alarms.OCCLUSION, now_s)

    def _check_reservoir(self, ctl, now_s):
        if ctl.prescription is None:
            return
        am, reservoir = ctl.alarms, ctl.reservoir
        empty = reservoir.is_empty() or ctl.board.end_of_travel()
        self._condition(am, alarms.EMPTY_RESERVOIR, empty, now_s)
        self._condition(am, alarms.LOW_RESERVOIR, reservoir.is_low(), now_s)
        if empty:
            ctl.stop(STOP_EMPTY, now_s)

    def _check_supply(self, am, supply_mv, now_s):
        if supply_mv < LOW_SUPPLY_MV:
            self.supply_low = True
        elif supply_mv >= SUPPLY_OK_MV:
            self.supply_low = False
        self._condition(am, alarms.LOW_BATTERY, self.supply_low, now_s)

    def _check_temperature(self, am, temperature_mc, now_s):
        if temperature_mc < TEMPERATURE_MIN_MC or temperature_mc > TEMPERATURE_MAX_MC:
            self.temperature_out = True
        elif (TEMPERATURE_MIN_MC + TEMPERATURE_HYSTERESIS_MC <= temperature_mc
              <= TEMPERATURE_MAX_MC - TEMPERATURE_HYSTERESIS_MC):
            self.temperature_out = False
        self._condition(am, alarms.TEMPERATURE, self.temperature_out, now_s)
