"""bench: trigger each alarm and time it, in the simulator or on a board (README, "Bench tools").

    python tools/bench.py sim [KIND ...] [--interpreter micropython] [--json]
    python tools/bench.py board --port /dev/ttyACM0 --key-file device.key [--rig WIRING] [KIND ...] [--json]

sim runs tools/scenarios/alarms/KIND.json and reads from its report when the
alarm rose after the fault, what the buzzer and lamp showed, whether delivery
stopped. board drives a programmed, delivering pump in bench mode over serial:
it injects the fault (`bench`, or `stop`), polls `alarms` until the alarm
shows, timed by this computer's monotonic clock, then clears, acknowledges
and resumes. With --rig, a Blinka rig (tools/benchrig.py) injects faults
electrically and times the buzzer and lamp lines themselves.

Each kind is judged against the bench plan: the priority the risk analysis
gives it and the IEC 60601-1-8 signal of that priority.

Exit codes: 0 every kind passed or was skipped; 1 a kind failed; 2 bad usage
or a bad scenario; 3 the board did not answer; 4 the port, key file, counter
file, rig or bench mode is not usable.
"""
import argparse
import json
import os
import sys
import time

import serial

from benchrig import FAULT_LINES, RigError, open_rig
from mpenv import ROOT
from pumpctl import EXIT_LINK, EXIT_NO_ANSWER, EXIT_USAGE, open_serial
from pumplink import CounterFile, LinkError, NoAnswer, PumpLink, PumpRefused, read_key_file
from scenario import normalise
from sim import report, run_cpython, run_micropython

from pump.alarms import KIND_NAMES  # noqa: E402 (sys.path set by the imports above)
from pump.monitor import LOW_SUPPLY_MV, TEMPERATURE_MAX_MC, TEMPERATURE_MIN_MC  # noqa: E402
from pump.occlusion import DEFAULT_MPSI_PER_UL  # noqa: E402

EXIT_FAIL = 1
ALARM_DIR = os.path.join(ROOT, "tools", "scenarios", "alarms")

# The bench plan: the priority each kind must come out at, from the risk
# analysis written in firmware/pump/alarms.py. Kept here on purpose rather
# than read from pump.alarms.RULES: a bench test checks the device against
# the plan, not against itself.
EXPECTED_PRIORITY = {
    "occlusion": "high", "empty_reservoir": "high", "motor_stall": "high",
    "pressure_sensor_fault": "high", "storage_fault": "high",
    "low_reservoir": "medium", "low_battery": "medium", "clock_fault": "medium", "delivery_stopped": "medium",
    "temperature": "low", "restart": "low",
}
# IEC 60601-1-8 signals per priority: buzzer tone, lamp colour, lamp flash
# rate in Hz (None: steady), pulses per burst. Low priority: a steady yellow
# lamp; its optional tone is left out by this design (pump/alarms.py).
SIGNALS = {
    "high": ("high", "red", (1.4, 2.8), 10),
    "medium": ("medium", "yellow", (0.4, 0.8), 3),
    "low": ("none", "yellow", None, 0),
}

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
}
# Stops that a bench session must not lift by itself: a person decides.
NEEDS_A_PERSON = {"empty_reservoir": "record a refill to resume", "storage_fault": "send a prescription to resume"}
# Refusals after which no other kind can be tried either.
SESSION_REFUSALS = ("bad_mac", "locked", "not_provisioned", "bench_disabled", "replay")

RESTING_MPSI = 200           # CSF pressure lying down, about 14 cmH2O
BENCH_FULL_SCALE_MPSI = 30_000  # the `bench` command's limit: the transducer's 0-30 psi


class BenchError(Exception):
    """The session cannot go on; args: (message, exit code)."""


def problems(expected, priority, tone=None, lamp=None, period_ms=None, pulses=None):
    """What differs from the plan, in words; [] is a pass. Observations
    that were not made (None) are not judged."""
    if priority is None:
        return ["not raised"]
    want_tone, want_lamp, flash_hz, want_pulses = SIGNALS[expected]
    found = []
    if priority != expected:
        found.append("priority %s, expected %s" % (priority, expected))
    if tone is not None and tone != want_tone:
        found.append("buzzer played %s, expected %s" % (tone, want_tone))
    if lamp is not None:
        if lamp != want_lamp:
            found.append("lamp %s, expected %s" % (lamp, want_lamp))
        hz = 1000 / period_ms if period_ms else None
        if flash_hz is None and hz is not None:
            found.append("lamp flashes at %.2f Hz, expected steady" % hz)
        elif flash_hz is not None and (hz is None or not flash_hz[0] <= hz <= flash_hz[1]):
            found.append("lamp %s, expected flashing at %g-%g Hz"
                         % ("steady" if hz is None else "at %.2f Hz" % hz, flash_hz[0], flash_hz[1]))
    if pulses is not None and pulses != want_pulses:
        found.append("%d pulses per burst, expected %d" % (pulses, want_pulses))
    return found


def judged(row, found):
    row["problems"] = found
    row["result"] = "FAIL" if found else "PASS"
    return row


# ----------------------------------------------------------------- simulator

def played_at(timeline, at_s):
    """The pattern that started last at or before at_s."""
    started = [entry for entry in timeline if entry["at_s"] <= at_s]
    return started[-1] if started else None


def sim_row(kind, interpreter="cpython"):
    """Run the kind's scenario and judge its first alarm of that kind. The
    fault is the last scenario event at or before the raise (None when the
    condition was there from the start or grew during the run)."""
    with open(os.path.join(ALARM_DIR, kind + ".json")) as f:
        raw = json.load(f)
    scenario = normalise(raw)
    rep = report(scenario, (run_micropython if interpreter == "micropython" else run_cpython)(scenario))
    row = {"kind": kind, "expected": EXPECTED_PRIORITY[kind], "priority": None, "raised_s": None,
           "fault_at_s": None, "alarm_after_s": None, "tone": None, "lamp": None, "flash_period_ms": None,
           "delivery_stopped": None}
    alarm = next((a for a in rep["alarms"] if a["kind"] == kind), None)
    if alarm is None:
        return judged(row, problems(row["expected"], None))
    raised = alarm["raised_s"]
    faults = [round(e["at_h"] * 3600) for e in raw.get("events", []) if e["at_h"] * 3600 <= raised]
    tone = played_at(rep["annunciation"]["buzzer"], raised)
    lamp = played_at(rep["annunciation"]["lamps"], raised)
    row.update(priority=alarm["priority"], raised_s=raised, fault_at_s=max(faults) if faults else None,
               tone=tone and tone["tone"], lamp=lamp and lamp["lamp"],
               flash_period_ms=lamp and (lamp["on_ms"] + lamp["off_ms"] if lamp["off_ms"] else 0),
               delivery_stopped=any(a["kind"] == "delivery_stopped" and a["raised_s"] >= raised
                                    for a in rep["alarms"]))
    if row["fault_at_s"] is not None:
        row["alarm_after_s"] = raised - row["fault_at_s"]
    return judged(row, problems(row["expected"], row["priority"], row["tone"], row["lamp"],
                                row["flash_period_ms"]))


# --------------------------------------------------------------------- board

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


def skipped(row, note):
    row.update(result="SKIP", problems=[], note=note)
    return row


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


# -------------------------------------------------------------------- output

def _s(value, digits=0):
    return "-" if value is None else "%.*f" % (digits, value)


def _yes(value):
    return "-" if value is None else ("yes" if value else "no")


def _lamp(row):
    if row["lamp"] is None:
        return "-"
    period = row["flash_period_ms"]
    return "%s %s" % (row["lamp"], "%d ms" % period if period else "steady")


SIM_COLUMNS = (
    ("kind", lambda r: r["kind"]), ("expected", lambda r: r["expected"]),
    ("priority", lambda r: r["priority"] or "-"), ("raised s", lambda r: _s(r["raised_s"])),
    ("fault at s", lambda r: _s(r["fault_at_s"])), ("after fault s", lambda r: _s(r["alarm_after_s"])),
    ("buzzer", lambda r: r["tone"] or "-"), ("lamp (flash period)", _lamp),
    ("stops", lambda r: _yes(r["delivery_stopped"])), ("result", lambda r: r["result"]),
)
BOARD_COLUMNS = (
    ("kind", lambda r: r["kind"]), ("expected", lambda r: r["expected"]),
    ("priority", lambda r: r["priority"] or "-"), ("injected by", lambda r: r["injected_by"] or "-"),
    ("alarm after s", lambda r: _s(r["alarm_after_s"], 3)), ("+/- s", lambda r: _s(r["resolution_s"], 3)),
    ("timed by", lambda r: r["timed_by"] or "-"), ("pulses", lambda r: _s(r["burst_pulses"])),
    ("stops", lambda r: _yes(r["delivery_stopped"])), ("result", lambda r: r["result"]),
)


def table(rows, columns):
    cells = [[cell(row) for _name, cell in columns] for row in rows]
    widths = [max([len(name)] + [len(line[i]) for line in cells]) for i, (name, _cell) in enumerate(columns)]
    lines = ["  ".join(text.ljust(w) for text, w in zip(line, widths)).rstrip()
             for line in [[name for name, _cell in columns]] + cells]
    for row in rows:
        lines.extend("  %s: %s" % (row["kind"], text) for text in row["problems"] + [row.get("note")] if text)
    return "\n".join(lines)


def build_parser():
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    modes = parser.add_subparsers(dest="mode", required=True)
    sim = modes.add_parser("sim", help="every alarm in the simulator")
    sim.add_argument("--interpreter", choices=("cpython", "micropython"), default="cpython")
    board = modes.add_parser("board", help="alarms injected into a board in bench mode")
    board.add_argument("--port", required=True, help="serial device or pyserial URL")
    board.add_argument("--key-file", required=True, help="device key, 64 hex digits")
    board.add_argument("--counter-file", help="keep this host's command counter here")
    board.add_argument("--baud", type=int, default=115200, help="baud rate (USB CDC ignores it)")
    board.add_argument("--timeout", type=float, default=2.0, metavar="S", help="seconds to wait for a reply")
    board.add_argument("--alarm-timeout", type=float, default=600, metavar="S",
                       help="seconds to wait for each alarm (600)")
    board.add_argument("--poll", type=float, default=0.5, metavar="S", help="seconds between polls (0.5)")
    board.add_argument("--settle", type=float, default=120, metavar="S",
                       help="seconds to wait for delivery to resume (120)")
    board.add_argument("--rig", metavar="WIRING",
                       help="Blinka rig: a JSON wiring file or ROLE=PIN,... (see tools/benchrig.py)")
    for sub in (sim, board):
        sub.add_argument("kinds", nargs="*", metavar="KIND", help="alarm kinds (default: all)")
        sub.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def main(argv=None, open_port=open_serial):
    parser = build_parser()
    options = parser.parse_args(argv)
    unknown = [kind for kind in options.kinds if kind not in EXPECTED_PRIORITY]
    if unknown:
        parser.error("unknown alarm kind %s (kinds: %s)" % (", ".join(unknown), ", ".join(KIND_NAMES)))
    options.kinds = options.kinds or list(KIND_NAMES)
    if options.mode == "sim":
        try:
            rows = [sim_row(kind, options.interpreter) for kind in options.kinds]
        except (OSError, ValueError) as exc:  # ScenarioError and JSON errors are ValueErrors
            print("bench: %s" % str(exc).splitlines()[0], file=sys.stderr)
            return EXIT_USAGE
        columns, summary = SIM_COLUMNS, {"mode": "sim", "interpreter": options.interpreter}
    else:
        try:
            rows = run_board(options, open_port)
        except BenchError as exc:
            print("bench: %s" % exc.args[0], file=sys.stderr)
            return exc.args[1]
        columns, summary = BOARD_COLUMNS, {"mode": "board", "port": options.port, "rig": bool(options.rig)}
    failed = any(row["result"] == "FAIL" for row in rows)
    summary.update(passed=not failed, kinds=rows)
    print(json.dumps(summary, indent=2) if options.json else table(rows, columns))
    return EXIT_FAIL if failed else 0


if __name__ == "__main__":
    sys.exit(main())
