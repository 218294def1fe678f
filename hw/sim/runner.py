"""Runs a scenario on the simulated board: the shell of the pump on a host.

The scenario arrives normalised to integers by tools/sim.py (times in ms,
volumes in nL, doses in ng); the results leave as integers and strings, and
tools/sim.py turns them into the report. So the same run can execute under
CPython or the MicroPython unix port and its report comes out identical:
`micropython hw/sim/runner.py normalised.json` prints the results as JSON.

Simulated time jumps from one controller wake-up (or scenario event) to the
next; the pulses the controller queued in between are applied to the
physics at their own ms, and checked one by one against the ideal.
"""
import binascii
import json
import sys

from boards.sim.board import SimBoard
from hw.sim.dosecheck import DoseChecker, Ledger
from hw.sim.flash import FakeFlash, PowerCut
from hw.sim.physics import SENSOR_FAULTS
from pump import alarms
from pump.card import ms_until_steps_out
from pump.commands import Commands
from pump.controller import Controller
from pump.delivery import bolus_plan
from pump.hmac256 import HmacSha256
from pump.units import mcg_to_ng
from pump.units import MS_PER_DAY

HOST_KEY = b"simulated-device-key-not-secret!"  # 32 bytes; the sim's own board


LAMP_COLOURS = {alarms.LAMP_RED: "red", alarms.LAMP_YELLOW: "yellow", alarms.LAMP_GREEN: "green"}


class ScenarioRefused(Exception):
    """The pump refused the scenario's programming: (command, code, message)."""


class Run:
    def __init__(self, scenario, flash=None):
        self.scenario = scenario
        self.flash = flash if flash is not None else FakeFlash()
        self.board = SimBoard(scenario["start_day"], scenario["start_ms"], scenario["seed"],
                              scenario["fill_nl"], scenario["calibration"],
                              scenario.get("true_steps_per_ml"), self.flash)
        self.time = self.board.time
        self.steps_per_ml = self.board.calibration["steps_per_ml"]
        self.checker = DoseChecker(self.steps_per_ml)
        self.ledger = Ledger()
        self.concentration = scenario["concentration_ng_per_ul"]  # of the drug in the reservoir
        self.start_s = scenario["start_day"] * 86_400 + scenario["start_ms"] // 1000
        self.alarm_records = {}  # (kind, raised_s) -> [kind, raised, acknowledged, cleared]
        self.alarm_order = []
        self.bolus = None  # (end_t_ms, lump, num) while a bolus is due
        self.restarts = 0
        self.starts = -1
        self.ctl = None
        # by time, then as written (MicroPython's sort is not stable)
        order = sorted(range(len(scenario["events"])), key=lambda i: (scenario["events"][i]["at_ms"], i))
        self.events = [scenario["events"][i] for i in order]
        self.next_event = 0
        self.wake_t = 0
        self.wakes = 0
        self.replies = []
        self.mac = HmacSha256(HOST_KEY)
        self._boot()
        self._provision()

    # ------------------------------------------------------------- shell
    def _boot(self):
        day, ms = self.time.day_ms()
        self.ctl = Controller(self.board, day, ms)
        self.commands = Commands(self.ctl, HOST_KEY)
        self.checker.pause()
        self.bolus = None
        self._read_alarms()

    def _provision(self):
        """A clinician programs the new pump over the protocol: patient, fill,
        settings, schedule. A refusal ends the run: the scenario asked for
        what the pump refuses."""
        for command in self.scenario["setup"]:
            reply = json.loads(self.command(command))
            if not reply["ok"]:
                raise ScenarioRefused(command["cmd"], reply["error"], reply["message"])

    def command(self, command):
        """A command signed and sent as the clinician programmer does; a
        bolus the pump accepts becomes part of what was asked, and of the
        ideal. Returns the reply line."""
        reply = self.line(self.sign(command))
        if command["cmd"] == "bolus" and reply is not None and json.loads(reply)["ok"]:
            self._bolus_asked(mcg_to_ng(command["args"]["mcg"]))
        return reply

    def line(self, line):
        """A protocol line as the serial port delivers it; returns the reply.
        As in firmware/main.py, the controller is advanced to now before and
        after: the command acts at the time it arrives, and what it changed
        (a bolus, a stop) is scheduled and annunciated at once."""
        self._advance()
        reply = self.guarded(lambda: self.commands.handle_line(line, self.ctl.now_s()))
        self._advance()  # the command may have changed what is due next
        return reply

    def sign(self, command):
        """Frame a command as the clinician programmer does: MAC, space, body."""
        body = json.dumps({"cmd": command["cmd"], "args": command.get("args", {}),
                           "ctr": self.ctl.counter + 1}).encode()
        return binascii.hexlify(self.mac.digest(body)) + b" " + body

    def guarded(self, action):
        """Runs firmware code; a power cut inside it reboots the pump. (A
        FakeFlash raises PowerCut; LittleFS on a RamNor whose power died
        fails with EIO, which the pump handles, and is found unpowered
        afterwards: the board would have died there too.)"""
        try:
            result = action()
        except PowerCut:
            self._power_cut(0)
            return None
        if not self.flash.powered:
            self._power_cut(0)
            return None
        return result

    def _bolus_asked(self, bolus_ng):
        num, duration, lump = bolus_plan(bolus_ng, self.ctl.reservoir.concentration_ng_per_ul,
                                         self.steps_per_ml, self.board.calibration["bolus_rate_nl_per_h"])
        self.bolus = (self.time.t_ms + duration, lump, num)
        self.ledger.program_bolus(self.time.t_ms, bolus_ng, self.concentration)

    def _advance(self):
        day, ms = self.time.day_ms()
        wake_ms = self.guarded(lambda: self.ctl.advance(day, ms))
        if wake_ms is None:  # the power failed inside; the new boot decides
            wake_ms = self.ctl.advance(*self.time.day_ms())
            day, ms = self.time.day_ms()
        self._observe()
        self.wake_t = self.time.run_ms(day, wake_ms)
        self.wakes += 1

    def _observe(self):
        """Follow the pump's state with the independent checks."""
        self._read_alarms()
        ctl, t = self.ctl, self.time.t_ms
        if not ctl.delivering:
            self.checker.pause()
            self.bolus = None
            return
        if not self.checker.active or self.checker.den != ctl.seg_den or self.starts != ctl.starts:
            self.starts = ctl.starts
            self.checker.reset(t, ctl.reservoir.concentration_ng_per_ul)
        bolus_num = 0
        if self.bolus is not None:
            end_t, lump, num = self.bolus
            if t >= end_t:
                self.checker.set_rate(end_t, 0, 0)
                self.checker.add_lump(lump)
                self.bolus = None
            else:
                bolus_num = num
        self.checker.set_rate(t, ctl.prescription.rate_at(*self.time.day_ms()), bolus_num)

    def _read_alarms(self):
        """Follow every alarm episode the pump's alarm manager keeps. Its
        history is in RAM and in the state record, so an alarm that could
        not be logged (a storage fault) is still seen, and one restored
        after a restart is merged with what was seen before it."""
        for episode in self.ctl.alarms.history:
            key = (episode.kind, episode.raised_s)
            record = self.alarm_records.get(key)
            if record is None:
                record = self.alarm_records[key] = [episode.kind, episode.raised_s - self.start_s, None, None,
                                                    episode.priority]
                self.alarm_order.append(key)
            for slot, value in ((2, episode.acknowledged_s), (3, episode.cleared_s)):
                if value is not None and record[slot] is None:
                    record[slot] = value - self.start_s

    # ------------------------------------------------------------ physics
    def _physics(self, t_next):
        """Time passes from now to t_next: pulses go out, drug is asked for."""
        t = self.time.t_ms
        self._program(t, t_next)
        mech = self.board.mechanism
        stepper = self.board.stepper
        for tp, forward in stepper.due_before(t_next):
            before = mech.to_patient_steps
            stepper.emit(forward)
            if forward and self.checker.active:
                self.checker.pulse(tp)
            moved = mech.to_patient_steps - before
            if moved:
                self.ledger.deliver(tp, moved, self.concentration)
        if self.checker.active:
            self.checker.at(t_next)
        self.time.t_ms = t_next

    def _program(self, t0, t1):
        """What the prescription asked for over [t0, t1), split at its steps."""
        prescription = self.ctl.prescription
        if prescription is None:
            return
        start_day, start_ms = self.scenario["start_day"], self.scenario["start_ms"]
        while t0 < t1:
            day, ms_of_day = divmod(start_ms + t0, MS_PER_DAY)
            day += start_day
            end = min(t1, t0 + prescription.next_change_ms(day, ms_of_day) - ms_of_day)
            self.ledger.program(t0, end, prescription.rate_at(day, ms_of_day), self.concentration)
            t0 = end

    # ------------------------------------------------------------- events
    def _power_cut(self, off_ms):
        self.board.stepper.cancel()  # the driver dies with the MCU
        self.checker.pause()  # not delivering while the power is off
        self.flash.restore_power()
        self.restarts += 1
        if off_ms:
            self._physics(self.time.t_ms + off_ms)
        self._boot()

    def _event(self, event):
        do, mech = event["do"], self.board.mechanism
        if do == "occlude":
            mech.occlude()
        elif do == "clear_occlusion":
            mech.clear_occlusion()
            self.ledger.deliver(self.time.t_ms, 0, self.concentration)
        elif do == "press":
            self.board.press_ack()
        elif do == "stall":
            mech.stalled = True
        elif do == "unstall":
            mech.stalled = False
        elif do == "sensor_fault":
            mech.sensor_fault = SENSOR_FAULTS[event["fault"]]
        elif do == "refill":
            self._refill(event)
        elif do == "command":
            self.replies.append(self.command(event["command"]))
        elif do == "power_cut":
            self._power_cut(event["off_ms"])
        elif do == "supply":
            self.board.supply = event["mv"]
        elif do == "temperature":
            self.board.temperature = event["mc"]
        elif do == "clock_fault":
            self.board.clock.ok = False
        elif do == "flash_failure":
            self.flash.wear_out()

    def _refill(self, event):
        new_conc = event["concentration_ng_per_ul"]
        self.board.mechanism.refill(event["add_nl"], new_conc != self.concentration)
        self.concentration = new_conc
        self.replies.append(self.command(event["command"]))

    def advance_to(self, t_ms):
        """Let simulated time pass up to t_ms: the pump wakes when it asks
        to, the scenario's events happen at their times."""
        events_ = self.events
        while True:
            next_event = events_[self.next_event]["at_ms"] if self.next_event < len(events_) else t_ms
            t_next = min(self.wake_t, next_event, t_ms)
            self._physics(t_next)
            while self.next_event < len(events_) and events_[self.next_event]["at_ms"] <= t_next:
                self._event(events_[self.next_event])
                self.next_event += 1
            if t_next >= t_ms:
                return
            self._advance()

    def run(self):
        self._advance()
        self.advance_to(self.scenario["duration_ms"])
        return self.results()

    # ------------------------------------------------------------- report
    def results(self):
        ctl, mech = self.ctl, self.board.mechanism
        lag, lead = self.checker.worst_micro_steps()
        return {
            "steps_per_ml": self.steps_per_ml,
            "true_steps_per_ml": mech.true_steps_per_ml,
            "programmed_pl": self.ledger.programmed_pl(),
            "delivered_steps": mech.to_patient_steps,
            "daily": [[p, d] for p, d in zip(self.ledger.programmed, self.ledger.delivered)],
            "max_dose_error_steps": self.checker.max_error_steps(),
            "worst_lag_micro_steps": lag,
            "worst_lead_micro_steps": lead,
            "true_reservoir_steps": mech.reservoir_steps,
            "estimated_reservoir_nl": ctl.reservoir.remaining_nl(),
            "ms_to_empty": self._ms_to_empty(),
            "end_ms": self.time.t_ms,
            "alarms": [[alarms.KIND_NAMES[k], alarms.PRIORITY_NAMES[p], r, a, c]
                       for k, r, a, c, p in (self.alarm_records[key] for key in self.alarm_order)],
            "flash_writes": self.flash.writes,
            "log_entries": ctl.log.count,
            "released_on_clear_steps": mech.released_on_clear_steps,
            "restarts": self.restarts,
            "annunciations": self._annunciations(),
            "wakes": self.wakes,
            "replies": [r.decode().strip() for r in self.replies if r is not None],
            # the refill-visit card at the end of the run, when the scenario asks (tools/sim.py --card)
            "card": self.commands.handle_line(b'{"cmd": "card"}', ctl.now_s()).decode().strip()
            if self.scenario.get("card") else None,
        }


    def _ms_to_empty(self):
        """ms from the end of the run until the pump's estimate runs dry, as
        the pump projects it from its last wake-up (pump.card), or None."""
        ctl = self.ctl
        to_empty = ms_until_steps_out(ctl, max(ctl.reservoir.remaining_steps(), 0))
        if to_empty is None:
            return None
        return to_empty + self.time.run_ms(ctl.day, ctl.ms) - self.time.t_ms

    def _annunciations(self):
        """What the buzzer and the lamps played, each time it changed."""
        buzzer = [[t_ms, _tone_name(tone)] for t_ms, tone in self.board.buzzer.played]
        lamps = [[t_ms, LAMP_COLOURS[lamp[0]], lamp[1], lamp[2]] for t_ms, lamp in self.board.lamps.played]
        return {"buzzer": buzzer, "lamps": lamps}


def _tone_name(tone):
    """A buzzer pattern by the priority it sounds: "high", "medium", "none",
    or "reminder high" for the one-shot reminder burst."""
    if not tone:
        return "none"
    if tone in alarms.REMINDERS_MS:
        return "reminder " + alarms.PRIORITY_NAMES[alarms.REMINDERS_MS.index(tone)]
    return alarms.PRIORITY_NAMES[alarms.TONES_MS.index(tone)]


def main(path):
    with open(path) as f:
        scenario = json.load(f)
    try:
        results = Run(scenario).run()
    except ScenarioRefused as exc:
        results = {"refused": list(exc.args)}
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
