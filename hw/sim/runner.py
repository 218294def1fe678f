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
import json
import sys

from hw.sim.board import SimBoard
from hw.sim.dosecheck import DoseChecker, Ledger, bolus_per_ms
from hw.sim.flash import FakeFlash, PowerCut
from hw.sim.physics import SENSOR_FAULTS
from hw.sim.records import Chunked
from pump import alarms, events as log_codes
from pump.card import ms_until_steps_out
from pump.commands import Commands
from pump.controller import Controller
from pump.hmac256 import HmacSha256
from pump.protocol import frame
from pump.schema import COMMANDS
from pump.units import mcg_to_ng
from pump.units import MS_PER_DAY

HOST_KEY = b"simulated-device-key-not-secret!"  # 32 bytes; the sim's own board
BOLUS_DEFAULT_S = COMMANDS["bolus"][1]["duration_s"][2]


NOT_YET = -1  # an alarm time that has not happened
RECORD = 5  # ints per alarm episode in Run.alarm_records
LAMP_COLOURS = {alarms.LAMP_RED: "red", alarms.LAMP_YELLOW: "yellow", alarms.LAMP_GREEN: "green"}


def accepted(reply):
    """Whether a reply line says the pump did what was asked (None: no reply)."""
    return reply is not None and json.loads(reply)["ok"]


class ScenarioRefused(Exception):
    """The pump refused the scenario's programming: (command, code, message)."""


class Run:
    def __init__(self, scenario, flash=None):
        self.scenario = scenario
        self.flash = flash if flash is not None else FakeFlash()
        self.board = SimBoard(scenario["start_day"], scenario["start_ms"], scenario["seed"],
                              scenario["fill_nl"], scenario["calibration"],
                              scenario.get("true_steps_per_ml"), self.flash,
                              rtc_drift_ppm=scenario.get("rtc_drift_ppm", 0))
        self.board.pass_time = self._pass_time  # firmware time (flash, sleeps) runs the physics
        self.time = self.board.time
        self.read_t = 0  # when the pump last read its clock
        self.steps_per_ml = self.board.calibration["steps_per_ml"]
        self.checker = DoseChecker(self.steps_per_ml)
        self.ledger = Ledger()
        self.concentration = scenario["concentration_ng_per_ul"]  # of the drug in the reservoir
        self.start_s = scenario["start_day"] * 86_400 + scenario["start_ms"] // 1000
        # Every alarm episode seen, in order, as RECORD ints each: kind, raised,
        # acknowledged, cleared (s since the start, NOT_YET when not so far),
        # and the priority it was raised at.
        # Flat and compact: a run with a thousand power cuts has a thousand
        # restart alarms, and the MicroPython heap must not fragment on them.
        self.alarm_records = Chunked("i")
        self.alarm_index = {}  # (kind, raised_s) -> record number, for the pump's recent history only
        self.clock_epoch = None  # the pump clock's (day, ms) at run time 0: a set_clock moves it
        self.off_until = None  # run ms the power comes back, while it is off
        self.trace = None
        if scenario.get("trace_ms"):
            from hw.sim.trace import Trace  # only when asked: the plain run's heap stays as it was
            self.trace = Trace(scenario["trace_ms"])
        self.bolus = None  # (start_t, end_t, lump, num, basal held) while a bolus is due
        self.catheter = None  # the line's dead volume, when the scenario describes the catheter
        if scenario.get("catheter"):
            from hw.sim.catheter import Catheter  # only when asked: the plain run's heap stays as it was
            self.catheter = Catheter(self._line_nl() * self.board.mechanism.true_steps_per_ml // 1_000_000,
                                     self.concentration if scenario["catheter"]["primed"] else 0)
        self.restarts = 0
        self.starts = -1
        self.ctl = None
        # by time, then as written (MicroPython's sort is not stable)
        order = sorted(range(len(scenario["events"])), key=lambda i: (scenario["events"][i]["at_ms"], i))
        self.events = [scenario["events"][i] for i in order]
        self.next_event = 0
        self.wake_t = 0
        self.wakes = 0
        self.replies = Chunked(None)  # the reply lines to the scenario's command events
        self.sent = Chunked(None)  # (run ms, command name, reply line or None): every command a person sent
        self.mac = HmacSha256(HOST_KEY)
        self._boot()
        self._provision()

    # ------------------------------------------------------------- shell
    def _boot(self):
        day, ms = self.board.clock.now()
        self.read_t = self.time.t_ms
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
        if self.off_until is not None:  # no power: nothing answers
            self.sent.append((self.time.t_ms, command["cmd"], None))
            return None
        def on_reply(reply):
            self.sent.append((self.time.t_ms, command["cmd"], reply))
            if command["cmd"] == "bolus" and accepted(reply):
                args = command["args"]
                self._bolus_asked(mcg_to_ng(args["mcg"]), args.get("duration_s", BOLUS_DEFAULT_S) * 1000,
                                  "then" in args)
            elif command["cmd"] == "prime" and accepted(reply):
                self._prime_asked(json.loads(reply)["duration_ms"])
        return self.line(self.sign(command), on_reply)

    def line(self, line, on_reply=None):
        """A protocol line as the serial port delivers it; returns the reply.
        As in firmware/main.py, the controller is advanced to now before and
        after: the command acts at the time it arrives, and what it changed
        (a bolus, a stop) is scheduled and annunciated at once."""
        self._advance()
        acted_t = self.read_t  # the pump's time for the command: its flash writes take time after it
        self.checker.hold()  # until the pass after it
        reply = self.guarded(lambda: self.commands.handle_line(line, self.ctl.now_s()))
        if on_reply is not None:
            on_reply(reply)
        reset = self.board.reset_requested  # a bench `restart` or `crash`, once its reply is out
        if reset:
            self.board.inject("clear")  # its RAM goes, the injected faults with it
            if reset == "crash":
                self._crash()
            else:
                self._power_cut(0)
            acted_t = None
        self._advance(acted_t)  # the command may have changed what is due next (the hold ends there)
        return reply

    def sign(self, command):
        """Frame a command as the clinician programmer does: MAC, space, body."""
        body = json.dumps({"cmd": command["cmd"], "args": command.get("args", {}),
                           "ctr": self.ctl.counter + 1}).encode()
        return frame(self.mac, body)

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

    def _bolus_asked(self, bolus_ng, duration_ms, single):
        """A bolus the pump took: on top of the basal, or (a single bolus)
        with the basal held until it ends."""
        num, lump = bolus_per_ms(bolus_ng, self.steps_per_ml, duration_ms)
        # begins at the pump's next pass (Controller.start_bolus)
        self.bolus = (None, duration_ms, lump, num, single)
        self.ledger.program_bolus(self.time.t_ms, bolus_ng, self.concentration)

    def _prime_asked(self, duration_ms):
        """A prime: the line's volume of the reservoir's drug over the time the
        pump gave, the basal held; line volume, so not programmed dose."""
        num, lump = bolus_per_ms(self._line_nl() * self.concentration // 1000, self.steps_per_ml, duration_ms)
        self.bolus = (None, duration_ms, lump, num, True)

    def _line_nl(self):
        """The line's dead volume as the scenario describes it: the
        catheter's and the board's outlet (as pump.therapy reckons it)."""
        cath = self.scenario.get("catheter") or {"cm": 0, "nl_per_cm": 0}
        return cath["cm"] * cath["nl_per_cm"] + self.board.calibration["outlet_nl"]

    def _advance(self, acted_t=None):
        """One controller pass at the pump's own clock reading; it sleeps
        for as long as it asks, on its ticks. `acted_t`: when a command
        that came before it changed the schedule."""
        day, ms = self.board.clock.now()
        self.read_t = self.time.t_ms
        if self.bolus is not None and self.bolus[0] is None:
            _start, duration, lump, num, single = self.bolus
            self.bolus = (self.read_t, self.read_t + duration, lump, num, single)
        self.checker.hold()
        wake_ms = self.guarded(lambda: self.ctl.advance(day, ms))
        if wake_ms is None:  # the power failed inside; the new boot decides
            day, ms = self.board.clock.now()
            self.read_t = self.time.t_ms
            wake_ms = self.ctl.advance(day, ms)
        self.checker.release(self.ctl.delivering)
        self._observe(self.read_t if acted_t is None else acted_t)
        self.wake_t = self.read_t + wake_ms - ms
        self.wakes += 1

    def _observe(self, t):
        """Follow the pump's state with the independent checks, as of t."""
        self._read_alarms()
        ctl = self.ctl
        if not ctl.delivering:
            self.checker.pause()
            self.bolus = None
            return
        epoch = self.time.day_ms(0)
        # the concentration the pump paces at: the reservoir's, but during a
        # bridge the old drug's (pump.therapy; the dose at the catheter tip
        # checks the bridge itself, on the simulator's own line)
        pacing = ctl.pacing_concentration()
        if (not self.checker.active or self.checker.concentration != pacing or self.starts != ctl.starts
                or epoch != self.clock_epoch):
            # a new start, concentration or clock: the pump starts its
            # schedule afresh from what went out, and so does the ideal (a
            # clock set: at the pass that reads the new clock, after the
            # command's flash writes)
            if self.clock_epoch is not None and epoch != self.clock_epoch:
                t = self.read_t
            self.starts = ctl.starts
            self.clock_epoch = epoch
            self.checker.reset(t, pacing)
        bolus_num, held = 0, False
        if self.bolus is not None:
            start_t, end_t, lump, num, single = self.bolus
            if start_t > t:  # the command came first, the bolus begins at the pass after it
                self.checker.set_rate(t, self._basal_at(t), 0)
                t = start_t
            if t >= end_t:
                self.checker.set_rate(end_t, 0, 0)
                self.checker.add_lump(lump)
                self.bolus = None
            else:
                bolus_num, held = num, single
        self.checker.set_rate(t, 0 if held else self._basal_at(t), bolus_num)

    def _basal_at(self, t):
        """The programmed rate at t (none in the screening trial)."""
        rx = self.ctl.prescription
        return rx.rate_at(*self.time.day_ms(t)) if rx is not None else 0

    def _read_alarms(self):
        """Follow every alarm episode the pump's alarm manager keeps. Its
        history is in RAM and in the state record, so an alarm that could
        not be logged (a storage fault) is still seen, and one restored
        after a restart is merged with what was seen before it. The index
        keeps only the episodes still in the pump's (bounded) history: an
        episode gone from it cannot change any more."""
        records, index = self.alarm_records, self.alarm_index
        start_s = self.start_s - self.ctl.clock_s(0)  # the run's start in the pump's time frame
        for episode in self.ctl.alarms.history:
            key = (episode.kind, episode.raised_s)
            at = index.get(key)
            if at is None:
                at = index[key] = len(records)
                records.extend((episode.kind, episode.raised_s - start_s, NOT_YET, NOT_YET, episode.priority))
            for slot, value in ((2, episode.acknowledged_s), (3, episode.cleared_s)):
                if value is not None and records[at + slot] == NOT_YET:
                    records[at + slot] = value - start_s
        if len(index) > 2 * len(self.ctl.alarms.history) + 8:
            self.alarm_index = {(e.kind, e.raised_s): index[(e.kind, e.raised_s)] for e in self.ctl.alarms.history}

    # ------------------------------------------------------------ physics
    def _pass_time(self, ms):
        self._physics(self.time.t_ms + ms)

    def _physics(self, t_next):
        """Time passes from now to t_next: pulses go out, drug is asked for.
        (Never backwards: the firmware may have spent past an event's time.)"""
        t = self.time.t_ms
        if t_next < t:
            t_next = t
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
                if self.catheter is not None:
                    self.catheter.push(tp, moved, self.concentration)
            elif self.trace is not None and mech.trapped_steps:  # the pressure peaks between samples
                self.trace.peak(mech.line_mpsi(tp))
        if self.checker.active:
            self.checker.at(t_next)
        self.time.t_ms = t_next

    def _program(self, t0, t1):
        """What the prescription asked for over [t0, t1), split at its steps."""
        prescription = self.ctl.prescription if self.ctl is not None else None  # None: booting
        if prescription is None:
            return
        while t0 < t1:
            day, ms_of_day = self.time.day_ms(t0)  # the schedule runs on the pump's clock, as set
            end = min(t1, t0 + prescription.next_change_ms(day, ms_of_day) - ms_of_day)
            rate = prescription.rate_at(day, ms_of_day)
            self.ledger.program(t0, end, rate, self.concentration)
            if self.catheter is not None:
                self.catheter.program(t0, end, rate)
            t0 = end

    # ------------------------------------------------------------- events
    def _power_cut(self, off_ms):
        """The power dies now and comes back off_ms later (the pump boots
        then), or never within the run. Events in between still happen to
        the world; commands get no answer."""
        self.board.stepper.cancel()  # the driver dies with the MCU,
        self.board.buzzer.stop()  # and so do the buzzer and the lamps
        self.board.lamps.stop()
        self.checker.pause()  # not delivering while the power is off
        self.flash.restore_power()
        if off_ms:
            back = self.time.t_ms + off_ms
            self.off_until = back if self.off_until is None else max(back, self.off_until)
        elif self.off_until is None:
            self._power_back()

    def _power_back(self):
        self.off_until = None
        self.restarts += 1
        self.board.reboot()
        self._boot()
        self.wake_t = self.time.t_ms  # its first pass comes at once (after the events of this time)

    def _crash(self):
        """The firmware raised out of its loop: as firmware/main.py does, the
        crash is logged and the board resets (at once: no power is lost)."""
        self.ctl.record(self.ctl.now_s(), log_codes.CRASH, 0)
        self._power_cut(0)

    def _event(self, event):
        do, mech = event["do"], self.board.mechanism
        if do == "occlude":
            mech.occlude()
        elif do == "clear_occlusion":
            released = mech.clear_occlusion()
            self.ledger.deliver(self.time.t_ms, released, self.concentration)
            if self.catheter is not None and released:
                self.catheter.push(self.time.t_ms, released, self.concentration)
        elif do == "press":
            if self.off_until is None:  # a press on a dead board is lost
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
        elif do == "crash":
            self._crash()
        elif do == "supply":
            self.board.supply = event["mv"]
        elif do == "temperature":
            self.board.temperature = event["mc"]
        elif do == "clock_fault":
            self.board.rtc.failing = True
        elif do == "flash_failure":
            self.flash.wear_out()

    def _refill(self, event):
        """The clinician fills through the port and records it. A refill the
        pump refuses (or cannot answer: no power) is one the clinician does
        not make, so the reservoir is as it was (less what went out while
        the pump was asked). The drug is in before the command is sent: a
        step that goes out while the pump checks it carries the new drug."""
        mech, new_conc, old_conc = self.board.mechanism, event["concentration_ng_per_ul"], self.concentration
        before, plunger = mech.reservoir_steps, mech.plunger_steps
        mech.refill(event["add_nl"], new_conc != old_conc)
        self.concentration = new_conc
        reply = self.command(event["command"])
        self.replies.append(reply)
        if not (reply is None and self.off_until is None) and not accepted(reply):
            mech.reservoir_steps = before - (mech.plunger_steps - plunger)
            self.concentration = old_conc

    def advance_to(self, t_ms):
        """Let simulated time pass up to t_ms: the pump wakes when it asks
        to, the scenario's events happen at their times."""
        events_ = self.events
        while True:
            next_event = events_[self.next_event]["at_ms"] if self.next_event < len(events_) else t_ms
            wake = self.wake_t if self.off_until is None else self.off_until
            t_next = min(wake, next_event, t_ms)
            if self.trace is not None and self.trace.next_ms < t_next:
                t_next = self.trace.next_ms  # a sample only: the pump sleeps on
                self._physics(t_next)
                self._sample()
                continue
            self._physics(t_next)
            if self.off_until is not None and t_next >= self.off_until:
                self._power_back()
            while self.next_event < len(events_) and events_[self.next_event]["at_ms"] <= t_next:
                self._event(events_[self.next_event])
                self.next_event += 1
            if self.trace is not None and self.trace.next_ms == t_next:
                self._sample()
            if t_next >= t_ms:
                return
            if self.off_until is None:
                self._advance()

    def _sample(self):
        """What the instruments read now (hw/sim/trace.py)."""
        from hw.sim.trace import NO_VALUE
        mech, ledger, t = self.board.mechanism, self.ledger, self.time.t_ms
        powered = self.off_until is None
        reservoir = self.ctl.reservoir
        self.trace.record((
            t, mech.plunger_steps, mech.to_patient_steps, ledger.total_programmed, ledger.total_delivered,
            mech.reservoir_steps, reservoir.remaining_steps() if powered else NO_VALUE,
            reservoir.low_threshold_steps if powered else NO_VALUE, self.trace.take_peak(mech.line_mpsi(t)),
            self.checker.error_micro_steps(t) if self.checker.active else NO_VALUE))

    def run(self, streamed=False):
        self._advance()
        self.advance_to(self.scenario["duration_ms"])
        return self.results(streamed)

    # ------------------------------------------------------------- report
    def results(self, streamed=False):
        """The report. `streamed`: the lists that grow with the run (alarm
        episodes, annunciations, replies, commands) as generators, for
        write_streamed; after thousands of boots the MicroPython heap has no
        room left for any of them as one list."""
        whole = _as_is if streamed else list
        ctl, mech = self.ctl, self.board.mechanism
        powered = self.off_until is None
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
            "ms_to_empty": self._ms_to_empty() if powered else None,
            "powered_at_end": powered,
            "end_ms": self.time.t_ms,
            "alarms": whole(self._alarms()),
            "flash_writes": self.flash.writes,
            "log_entries": ctl.log.count,
            "released_on_clear_steps": mech.released_on_clear_steps,
            "restarts": self.restarts,
            "annunciations": {"buzzer": whole(self._buzzer()), "lamps": whole(self._lamps())},
            "wakes": self.wakes,
            "replies": whole(r.decode().strip() for r in self.replies if r is not None),
            "commands": whole([t, name, None if r is None else r.decode().strip()] for t, name, r in self.sent),
            # at the catheter tip, when the scenario describes the line (hw/sim/catheter.py)
            "tip": None if self.catheter is None else {
                "daily": self.catheter.tip_daily, "hourly": self.catheter.tip_hourly,
                "programmed_hourly": self.catheter.programmed_hourly},
            "trace": None if self.trace is None else self.trace.as_lists(),
            # the refill-visit card at the end of the run, when the scenario asks (tools/sim.py --card)
            "card": self.commands.handle_line(b'{"cmd": "card"}', ctl.now_s()).decode().strip()
            if self.scenario.get("card") and powered else None,
        }

    def _alarms(self):
        """[kind, priority, raised_s, acknowledged_s, cleared_s] per episode, None for not yet."""
        records = self.alarm_records
        for at in range(0, len(records), RECORD):
            yield [alarms.KIND_NAMES[records[at]], alarms.PRIORITY_NAMES[records[at + 4]]] + [
                None if records[at + j] == NOT_YET else records[at + j] for j in (1, 2, 3)]

    def _ms_to_empty(self):
        """ms from the end of the run until the pump's estimate runs dry, as
        the pump projects it from its last wake-up (pump.card), or None."""
        ctl = self.ctl
        to_empty = ms_until_steps_out(ctl, max(ctl.reservoir.remaining_steps(), 0))
        if to_empty is None:
            return None
        return to_empty + self.time.run_ms(ctl.day, ctl.ms) - self.time.t_ms

    def _buzzer(self):
        """[run ms, tone] each time the buzzer's pattern changed."""
        piezo = self.board.buzzer
        for i in range(len(piezo)):
            t_ms, tone = piezo.played(i)
            yield [t_ms, _tone_name(tone)]

    def _lamps(self):
        """[run ms, colour, on ms, off ms] each time the lamps' pattern changed."""
        leds = self.board.lamps
        for i in range(len(leds)):
            t_ms, lamp = leds.played(i)
            yield [t_ms, LAMP_COLOURS[lamp[0]], lamp[1], lamp[2]] if lamp else [t_ms, "off", 0, 0]


def _as_is(items):
    return items


_GENERATOR = type(_as_is(x for x in ()))


def write_streamed(value, out):
    """json.dump, with each generator written as a list item by item."""
    if isinstance(value, dict):
        out.write("{")
        for i, key in enumerate(value):
            out.write(", " if i else "")
            out.write(json.dumps(key) + ": ")
            write_streamed(value[key], out)
        out.write("}")
    elif type(value) is _GENERATOR:
        out.write("[")
        for i, item in enumerate(value):
            out.write(", " if i else "")
            json.dump(item, out)
        out.write("]")
    else:
        json.dump(value, out)


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
        results = Run(scenario).run(streamed=True)
    except ScenarioRefused as exc:
        results = {"refused": list(exc.args)}
    write_streamed(results, sys.stdout)  # written as it goes: no one string or list of the whole report
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
