"""tools/bench.py's board session: a programmed, delivering pump in bench
mode, over serial (tools/pumplink.py), each fault injected through the
protocol or a Blinka rig (tools/benchrig.py), timed, judged against the
plan (tools/benchplan.py), and undone.
"""
import sys
import time

import serial

from benchplan import EXIT_FAIL, EXPECTED_PRIORITY, SIGNALS, BenchError, judged, problems, skipped
from benchrig import FAULT_LINES, RigError, open_rig
from pumpctl import EXIT_LINK, EXIT_NO_ANSWER
from pumplink import CounterFile, LinkError, NoAnswer, PumpLink, PumpRefused, read_key_file

from pump.monitor import LOW_SUPPLY_MV, TEMPERATURE_MAX_MC, TEMPERATURE_MIN_MC  # noqa: E402 (path set above)
from pump.occlusion import DEFAULT_MPSI_PER_UL  # noqa: E402

# kind -> (how it is injected over the protocol, the `bench` fault it uses)
INJECTIONS = {"occlusion": ("bench pressure ramp", "pressure"), "motor_stall": ("bench stall", "stall"),
              "empty_reservoir": ("bench empty", "empty"), "delivery_stopped": ("stop command", None)}
NOT_INJECTABLE = {
    "low_reservoir": "deliver down to the low-reservoir threshold",
    "pressure_sensor_fault": "bench pressure stays within 0-30 psi: open the transducer wire, "
                             "or --rig with a pressure line",
    "storage_fault": "needs a flash that refuses writes",
    "low_battery": "bring VSYS below %.1f V with a bench supply" % (LOW_SUPPLY_MV / 1000),
    "temperature": "take the board outside %d-%d C" % (TEMPERATURE_MIN_MC // 1000, TEMPERATURE_MAX_MC // 1000),
    "clock_fault": "disconnect the DS3231",
    "restart": "cut the board's power for a few seconds",
    "missed_delivery": "cut the board's power for over an hour while it delivers",
    "crash_loop": "firmware that crashes three times in 30 minutes (or pump.events CRASH entries in its log)",
}
# Stops that a bench session must not lift by itself: a person decides.
NEEDS_A_PERSON = {"empty_reservoir": "record a refill to resume", "storage_fault": "send a prescription to resume"}
# Refusals after which no other kind can be tried either.
SESSION_REFUSALS = ("bad_mac", "locked", "not_provisioned", "bench_disabled", "replay")

RESTING_MPSI = 200           # CSF pressure lying down, about 14 cmH2O
BENCH_FULL_SCALE_MPSI = 30_000  # the `bench` command's limit: the transducer's 0-30 psi


class PressureRamp:
    """An occluded line, played through `bench pressure`: each uL the pump
    pushes raises the reading by the catheter's compliance (pump.occlusion:
    1 psi per uL), from a resting CSF pressure. A constant high reading would
    not do: the detector looks for pressure rising with the steps pushed."""

    def __init__(self, link, remaining_ml):
        self.link = link
        self.start_ml = remaining_ml

    def tick(self):
        pushed_ul = (self.start_ml - self.link.request("status")[0]["remaining_ml"]) * 1000
        mpsi = min(RESTING_MPSI + max(0, round(pushed_ul * DEFAULT_MPSI_PER_UL)), BENCH_FULL_SCALE_MPSI)
        self.link.request("bench", {"fault": "pressure", "mpsi": mpsi})


class BoardBench:
    """One bench session on a board: each kind injected, timed, judged and
    undone in turn. `rig` is a benchrig.BenchRig or None."""

    def __init__(self, link, rig=None, alarm_timeout_s=600, poll_s=0.5, settle_s=120, progress=None):
        self.link = link
        self.rig = rig
        self.alarm_timeout_s = alarm_timeout_s
        self.poll_s = poll_s
        self.settle_s = settle_s
        self.progress = progress or (lambda text: None)

    def check_ready(self):
        """The board answers, has a key and is in bench mode."""
        auth = self.link.request("auth")[0]
        if not auth.get("provisioned"):
            raise BenchError("the board has no device key: deploy one (tools/deploy.py --key ...)", EXIT_LINK)
        if not auth.get("bench"):
            raise BenchError("bench mode is off: fit the BENCH-ENABLE jumper (GP21 to GND) and reset the "
                             "board; the pump reads it once at boot", EXIT_LINK)

    def run(self, kind):
        row = {"kind": kind, "expected": EXPECTED_PRIORITY[kind], "injected_by": None, "priority": None,
               "alarm_after_s": None, "resolution_s": None, "timed_by": None, "burst_pulses": None,
               "delivery_stopped": None, "note": None}
        by_rig = self.rig is not None and self.rig.can_inject(kind)
        if not by_rig and kind not in INJECTIONS:
            return skipped(row, "not injectable over the protocol: " + NOT_INJECTABLE[kind])
        status = self.link.request("status")[0]
        if not status["delivering"]:
            return skipped(row, "the pump is not delivering (stopped for %s): program it and resume first"
                           % (", ".join(status["stopped_for"]) or "no prescription"))
        if kind in status["alarms"]:
            return skipped(row, "already active before the injection: clear and acknowledge it first")
        row["injected_by"] = "rig %s line" % FAULT_LINES[kind][0] if by_rig else INJECTIONS[kind][0]
        self.progress("%s: injecting by %s, waiting up to %g s" % (kind, row["injected_by"], self.alarm_timeout_s))
        ramp = PressureRamp(self.link, status["remaining_ml"]) if kind == "occlusion" else None
        try:
            found = self._time(kind, row, by_rig, ramp)
        except PumpRefused as exc:
            if exc.code in SESSION_REFUSALS:
                raise
            found = ["the pump refused a bench command: %s" % exc]
        finally:
            if by_rig:
                self.rig.release(kind)
        row["note"] = self._restore(kind, by_rig)
        return judged(row, found)

    def _inject(self, kind, by_rig, ramp):
        if by_rig:
            self.rig.inject(kind)
        elif ramp is not None:
            ramp.tick()
        elif INJECTIONS[kind][1] is None:
            self.link.request("stop", {"reason": "bench test"})
        else:
            self.link.request("bench", {"fault": INJECTIONS[kind][1]})

    def _time(self, kind, row, by_rig, ramp):
        """Inject, time the alarm, read what the pump says about it."""
        want_tone, lamp, _flash, _pulses = SIGNALS[row["expected"]]
        roles = []
        if self.rig is not None:
            roles = [r for r in self.rig.watched(lamp) if r != "buzzer" or want_tone != "none"]

        def inject():
            self._inject(kind, by_rig, ramp)

        found = []
        if roles:
            seen = self.rig.observe(inject, roles, self.alarm_timeout_s, ramp and ramp.tick, self.poll_s)
            times = [(t, role) for role, t in seen.first_change_s.items() if t is not None]
            if times:
                row["alarm_after_s"], role = min(times)
                row["timed_by"] = "%s line" % role
                row["resolution_s"] = round(seen.resolution_s, 6)
            if "buzzer" in roles:
                row["burst_pulses"] = seen.burst_pulses()
            found += ["no change on the %s line within %g s" % (role, self.alarm_timeout_s)
                      for role, t in seen.first_change_s.items() if t is None]
        else:
            row["alarm_after_s"], row["resolution_s"] = self._poll(kind, inject, ramp)
            row["timed_by"] = "alarms poll"
        reply = self.link.request("alarms")[0]
        episodes = [e for e in reply["history"] if e["kind"] == kind]
        if kind in reply["active"] and episodes:
            row["priority"] = episodes[-1]["priority"]
        row["delivery_stopped"] = not self.link.request("status")[0]["delivering"]
        if row["priority"] is None:
            return ["not raised within %g s" % self.alarm_timeout_s]
        return found + problems(row["expected"], row["priority"], pulses=row["burst_pulses"])

    def _poll(self, kind, inject, ramp):
        """(s from the injection to the first `alarms` reply listing the kind,
        s since the reply before it: the alarm rose somewhere in between)."""
        inject()
        start = previous = time.monotonic()
        while True:
            if ramp is not None:
                ramp.tick()
            active = self.link.request("alarms")[0]["active"]
            now = time.monotonic()
            if kind in active:
                return round(now - start, 6), round(now - previous, 6)
            if now - start >= self.alarm_timeout_s:
                return None, None
            previous = now
            time.sleep(self.poll_s)

    def _restore(self, kind, by_rig):
        """Undo the fault, acknowledge, resume until delivering; returns a note
        when delivery stays stopped."""
        if not by_rig and INJECTIONS[kind][1] is not None:
            self.link.request("bench", {"fault": "clear"})
        self.link.request("ack")
        deadline = time.monotonic() + self.settle_s
        while True:
            stopped_for = self.link.request("status")[0]["stopped_for"]
            waiting = [reason for reason in stopped_for if reason not in NEEDS_A_PERSON]
            if not waiting:
                return "; ".join("delivery stays stopped for %s: %s" % (reason, NEEDS_A_PERSON[reason])
                                 for reason in stopped_for) or None
            if time.monotonic() >= deadline:
                return "delivery still stopped for %s after %g s" % (", ".join(waiting), self.settle_s)
            self.link.request("resume")
            time.sleep(self.poll_s)


def run_board(options, open_port):
    """Rows for every kind; BenchError when the session cannot run."""
    try:
        key = read_key_file(options.key_file)
        counter = CounterFile(options.counter_file) if options.counter_file else None
        rig = open_rig(options.rig) if options.rig else None
    except (LinkError, RigError) as exc:
        raise BenchError(str(exc), EXIT_LINK)
    try:
        port = open_port(options.port, options.baud)
    except LinkError as exc:
        if rig is not None:
            rig.close()
        raise BenchError(str(exc), EXIT_LINK)
    bench = BoardBench(PumpLink(port, key, counter, options.timeout), rig, options.alarm_timeout,
                       options.poll, options.settle, lambda text: print(text, file=sys.stderr, flush=True))
    try:
        bench.check_ready()
        # an empty-reservoir test leaves delivery stopped until a refill: last
        return [bench.run(kind) for kind in sorted(options.kinds, key=lambda kind: kind == "empty_reservoir")]
    except NoAnswer as exc:
        raise BenchError("%s on %s: is the board connected, running the pump, and not held by another "
                         "program?" % (exc, options.port), EXIT_NO_ANSWER)
    except PumpRefused as exc:
        hint = {"bad_mac": " (is --key-file this board's key?)",
                "replay": " (the counter file is behind the pump: leave out --counter-file)"}.get(exc.code, "")
        raise BenchError("the pump refused the session: %s%s" % (exc, hint),
                         EXIT_LINK if exc.code in SESSION_REFUSALS else EXIT_FAIL)
    except (LinkError, serial.SerialException, OSError) as exc:
        raise BenchError(str(exc), EXIT_LINK)
    finally:
        port.close()
        if rig is not None:
            rig.close()
