"""tools/bench.py's board session: a programmed, delivering pump, over
serial (tools/pumplink.py), each alarm kind injected through the protocol
(`bench`, with the BENCH-ENABLE jumper; `stop`, without) or a Blinka rig
(tools/benchrig.py), timed, judged against the plan (tools/benchplan.py),
and undone by the command that injected it.

Every alarm the pump raised during a test is listed in its row (from the
pump's alarm history, before and after), and one the test does not expect
fails it.
"""
import sys
import time

import serial

from benchplan import (CRASH_LOOP_CRASHES, EXIT_FAIL, EXPECTED_PRIORITY, SIGNALS, BenchError, judged, problems,
                       skipped, unexpected)
from benchrig import FAULT_LINES, RigError, open_rig
from pumpctl import EXIT_LINK, EXIT_NO_ANSWER
from pumplink import CounterFile, LinkError, NoAnswer, PumpLink, PumpRefused, read_key_file

from pump.alarms import KIND_NAMES  # noqa: E402 (path set above)
from pump.monitor import LOW_SUPPLY_MV, TEMPERATURE_MAX_MC  # noqa: E402

STOP_REASON = "bench test"
OUTAGE_MIN = 12 * 60  # as the missed_delivery scenario: high from 4 h of basal missed
# test -> (alarm kind, the command that injects it, its args). The kinds come
# from pump.alarms (test_bench_tool checks that each has a test here); a
# `bench` command is undone by `bench clear`, the `stop` by `resume`, and what
# a reset's boot raised by the `ack` (and a crash loop by the `resume`) that
# end every test.
TESTS = (
    ("occlusion", "occlusion", "bench", {"fault": "occlusion"}),
    ("motor_stall", "motor_stall", "bench", {"fault": "stall"}),
    ("sensor_open", "pressure_sensor_fault", "bench", {"fault": "sensor_open"}),
    ("sensor_stuck", "pressure_sensor_fault", "bench", {"fault": "sensor_stuck"}),
    ("sensor_out_of_range", "pressure_sensor_fault", "bench", {"fault": "sensor_out_of_range"}),
    ("low_battery", "low_battery", "bench", {"fault": "low_battery", "mv": LOW_SUPPLY_MV - 300}),
    ("temperature", "temperature", "bench", {"fault": "temperature", "mc": TEMPERATURE_MAX_MC + 5000}),
    ("clock_fault", "clock_fault", "bench", {"fault": "clock"}),
    ("storage_fault", "storage_fault", "bench", {"fault": "storage"}),
    ("low_reservoir", "low_reservoir", "bench", {"fault": "low_reservoir"}),
    ("empty_reservoir", "empty_reservoir", "bench", {"fault": "empty"}),
    ("delivery_stopped", "delivery_stopped", "stop", {"reason": STOP_REASON}),
    # before the other resets: the unix port's reset is an exit, which main.py logs as a crash
    ("crash_loop", "crash_loop", "bench", {"fault": "crash"}),
    ("restart", "restart", "bench", {"fault": "restart"}),
    ("missed_delivery", "missed_delivery", "bench", {"fault": "outage", "min": OUTAGE_MIN}),
)
TEST_KIND = {name: kind for name, kind, _command, _args in TESTS}
# The faults after which the board resets (its USB goes away), and how many
# times a test sends it: a crash loop is the plan's number of crashes in a row.
RESETS = {"restart": 1, "outage": 1, "crash": CRASH_LOOP_CRASHES}
# Refusals after which no other test can be tried either.
SESSION_REFUSALS = ("bad_mac", "locked", "not_provisioned", "replay")
# A restart takes the board's USB (or the pty board's firmware) away for a while.
LINK_LOST = (NoAnswer, LinkError, serial.SerialException, OSError)


def kinds_without_a_test():
    return [kind for kind in KIND_NAMES if kind not in TEST_KIND.values()]


def tests_for(names):
    """The tests named, or those of the alarm kinds named, in table order."""
    return [test for test in TESTS if test[0] in names or test[1] in names]


class BoardBench:
    """One bench session on a board: each test injected, timed, judged and
    undone in turn. `rig` is a benchrig.BenchRig or None; `reconnect()`
    gives a new PumpLink once a reset has taken the port away."""

    def __init__(self, link, rig=None, alarm_timeout_s=600, poll_s=0.5, settle_s=120, progress=None,
                 reconnect=None):
        self.link = link
        self.rig = rig
        self.alarm_timeout_s = alarm_timeout_s
        self.poll_s = poll_s
        self.settle_s = settle_s
        self.progress = progress or (lambda text: None)
        self.reconnect = reconnect
        self.bench_enabled = False
        self.boot_seq = -1  # the newest boot's log entry before a reset was asked for

    def check_ready(self):
        """The board answers and has a key; says so when bench mode is off
        (only the tests that need no jumper run then)."""
        auth = self.link.request("auth")[0]
        if not auth.get("provisioned"):
            raise BenchError("the board has no device key: deploy one (tools/deploy.py --key ...)", EXIT_LINK)
        self.bench_enabled = bool(auth.get("bench"))
        if not self.bench_enabled:
            self.progress("bench mode is off (the BENCH-ENABLE jumper, GP21 to GND, is read at boot): "
                          "only the tests that need no jumper run")

    def run(self, test):
        name, kind, command, args = test
        row = {"test": name, "kind": kind, "expected": EXPECTED_PRIORITY[kind], "injected_by": None,
               "priority": None, "alarm_after_s": None, "resolution_s": None, "timed_by": None,
               "pushed_ul": None, "burst_pulses": None, "delivery_stopped": None, "raised": [], "note": None}
        by_rig = self.rig is not None and self.rig.can_inject(name)
        if command == "bench" and not by_rig and not self.bench_enabled:
            return skipped(row, "needs the BENCH-ENABLE jumper at boot")
        status = self.link.request("status")[0]
        if not status["delivering"]:
            return skipped(row, "the pump is not delivering (stopped for %s): program it and resume first"
                           % (", ".join(status["stopped_for"]) or "no prescription"))
        if kind in status["alarms"]:
            return skipped(row, "already active before the injection: clear and acknowledge it first")
        before = self._episodes()
        row["injected_by"] = "rig %s line" % FAULT_LINES[name][0] if by_rig else _described(command, args)
        self.progress("%s: injecting by %s, waiting up to %g s" % (name, row["injected_by"], self.alarm_timeout_s))
        try:
            found = self._time(test, row, by_rig)
        except PumpRefused as exc:
            if exc.code in SESSION_REFUSALS:
                raise
            found = ["the pump refused a bench command: %s" % exc]
        finally:
            if by_rig:
                self.rig.release(name)
        row["note"] = self._restore(test, by_rig)
        row["raised"] = [k for k, raised in self._episodes() if (k, raised) not in before]
        return judged(row, found + unexpected(kind, row["raised"]))

    def _episodes(self):
        """(kind, raised) of the pump's alarm history, oldest first."""
        return [(e["kind"], e["raised"]) for e in self.link.request("alarms")[0]["history"]]

    def _time(self, test, row, by_rig):
        """Inject, time the alarm, read what the pump says about it."""
        name, kind, command, args = test
        want_tone, lamp, _flash, _pulses = SIGNALS[row["expected"]]
        roles = []
        if self.rig is not None:
            roles = [r for r in self.rig.watched(lamp) if r != "buzzer" or want_tone != "none"]

        injected = {}

        def inject():
            if by_rig:
                self.rig.inject(name)
            elif command == "bench" and args["fault"] in RESETS:
                for _ in range(RESETS[args["fault"]] - 1):
                    self._send_reset(args)
                    self._wait_for_boot()
                self._send_reset(args)
            else:
                injected.update(self.link.request(command, args)[0])

        found = []
        if roles:
            seen = self.rig.observe(inject, roles, self.alarm_timeout_s)
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
            row["alarm_after_s"], row["resolution_s"] = self._poll(kind, inject)
            row["timed_by"] = "alarms poll"
        reply = self._ask("alarms")
        episodes = [e for e in reply["history"] if e["kind"] == kind]
        if kind in reply["active"] and episodes:
            row["priority"] = episodes[-1]["priority"]
        status = self._ask("status")
        row["delivery_stopped"] = not status["delivering"]
        if "remaining_nl" in injected:
            # what the pump pushed into the blocked line by the time it stopped,
            # by its own count from the injection (+-0.5 uL: status gives mL to the uL)
            row["pushed_ul"] = round(injected["remaining_nl"] / 1000 - status["remaining_ml"] * 1000, 1)
        if row["priority"] is None:
            return ["not raised within %g s" % self.alarm_timeout_s]
        return found + problems(row["expected"], row["priority"], pulses=row["burst_pulses"])

    def _send_reset(self, args):
        """A `bench` fault after which the board resets: its reply may be
        lost with the board's USB."""
        self.boot_seq = self._last_boot_seq()
        try:
            self.link.request("bench", args)
        except LINK_LOST:
            pass

    def _last_boot_seq(self):
        """The log's sequence number of the pump's newest boot (its
        `restart` entry); -1 when none is among the newest 50."""
        entries = self._ask("log", {"n": 50})["entries"]
        return next((e["seq"] for e in entries if e["event"] == "restart"), -1)

    def _wait_for_boot(self):
        """Until the pump has booted again since the last _send_reset (or
        alarm_timeout_s): a fault sent before then could reach the old
        firmware between its reply and its reset."""
        deadline = time.monotonic() + self.alarm_timeout_s
        while self._last_boot_seq() == self.boot_seq and time.monotonic() < deadline:
            time.sleep(self.poll_s)

    def _ask(self, name, args=None):
        """A request that outlasts a reset: the link is reopened until the
        pump answers, for up to alarm_timeout_s."""
        deadline = time.monotonic() + self.alarm_timeout_s
        while True:
            try:
                return self.link.request(name, args)[0]
            except LINK_LOST:
                if self.reconnect is None or time.monotonic() >= deadline:
                    raise
            time.sleep(self.poll_s or 0.05)
            try:
                self.link = self.reconnect()
            except LINK_LOST:
                pass

    def _poll(self, kind, inject):
        """(s from the injection to the first `alarms` reply listing the kind,
        s since the reply before it: the alarm rose somewhere in between)."""
        inject()
        start = previous = time.monotonic()
        while True:
            active = self._ask("alarms")["active"]
            now = time.monotonic()
            if kind in active:
                return round(now - start, 6), round(now - previous, 6)
            if now - start >= self.alarm_timeout_s:
                return None, None
            previous = now
            time.sleep(self.poll_s)

    def _restore(self, test, by_rig):
        """Undo the fault with the command that injected it, acknowledge,
        resume until delivering; returns a note when delivery stays stopped."""
        _name, _kind, command, _args = test
        if not by_rig and command == "bench":
            self._ask("bench", {"fault": "clear"})
        self._ask("ack")
        deadline = time.monotonic() + self.settle_s
        while True:
            stopped_for = self._ask("status")["stopped_for"]
            if not stopped_for:
                return None
            if time.monotonic() >= deadline:
                return "delivery still stopped for %s after %g s" % (", ".join(stopped_for), self.settle_s)
            self._ask("resume")
            self._ask("ack")
            time.sleep(self.poll_s)


def _described(command, args):
    if command == "stop":
        return "stop command"
    return " ".join(["bench"] + ["%s" % value for value in args.values()])


def run_board(options, open_port, tests):
    """Rows for the tests; BenchError when the session cannot run."""
    try:
        key = read_key_file(options.key_file)
        counter = CounterFile(options.counter_file) if options.counter_file else None
        rig = open_rig(options.rig) if options.rig else None
    except (LinkError, RigError) as exc:
        raise BenchError(str(exc), EXIT_LINK)
    ports = []

    def connect():
        if ports:
            ports[-1].close()
        ports.append(open_port(options.port, options.baud))
        return PumpLink(ports[-1], key, counter, options.timeout)

    try:
        link = connect()
    except LinkError as exc:
        if rig is not None:
            rig.close()
        raise BenchError(str(exc), EXIT_LINK)
    bench = BoardBench(link, rig, options.alarm_timeout, options.poll, options.settle,
                       lambda text: print(text, file=sys.stderr, flush=True), connect)
    try:
        bench.check_ready()
        return [bench.run(test) for test in tests]
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
        ports[-1].close()
        if rig is not None:
            rig.close()
