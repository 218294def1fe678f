"""A Blinka bench rig: fault lines into the pump board, alarm lines out of it.

A PC with an FT232H or MCP2221 breakout, or a Raspberry Pi, runs Adafruit
Blinka; its GPIO are wired to the reference board (README, "The reference board"):

    role            board pin         what the rig does
    diag            GP5  (DIAG)       drives it high: the TMC2209 flags a stall
    pressure        GP26 (ADC0)       drives it low: 0 V is a broken transducer wire
    buzzer          GP15 (BUZZER)     watched (input)
    red, yellow     GP16, GP17        watched (input)

Fault lines stay inputs (high impedance) until a fault is injected, so a
connected rig does not disturb the board, and go back to inputs on release.
The end-of-travel switch is normally closed (docs/HARDWARE.md): a rig line
cannot open a closed contact, so the empty reservoir is injected with
`bench empty`, or by hand by pulling the switch's connector.
All grounds common; 3.3 V logic on both sides.

Timing is a plain polling loop on time.monotonic_ns(): a change on a line is
seen at the first read after it happened, so every time reported is late by
at most the gap between two reads, and the worst gap is reported with it
(an FT232H read is a USB round trip, about 0.1-1 ms; a Pi's GPIO is faster).

The buzzer line carries the 2.7 kHz PWM while a tone plays, which polling
cannot follow; a pulse is therefore a run of activity with no idle gap
longer than MERGE_MS, and a burst is a run of pulses with no gap longer than
BURST_GAP_S. IEC 60601-1-8 pulse gaps inside a burst are 50-125 ms plus
one of up to 1.3 s, and bursts are at least 2.5 s apart, so both hold for
any compliant pattern, with or without an envelope detector on the line.
"""
import json
import os
import time

# bench test (tools/benchboard.py) -> (fault line, level that injects it)
FAULT_LINES = {
    "motor_stall": ("diag", True),
    "sensor_open": ("pressure", False),
}
WATCH_ROLES = ("buzzer", "red", "yellow")
ROLES = tuple(line for line, _level in FAULT_LINES.values()) + WATCH_ROLES

MERGE_MS = 40
BURST_GAP_S = 1.5


class RigError(Exception):
    """The rig cannot be set up: wiring, pin names, or no Blinka platform."""


def parse_wiring(text):
    """{role: Blinka pin name} from a JSON file or from "role=PIN,role=PIN"."""
    if os.path.exists(text):
        try:
            with open(text) as wiring_file:
                wiring = json.load(wiring_file)
        except (OSError, ValueError) as exc:
            raise RigError("cannot read wiring file %s: %s" % (text, exc))
        if not isinstance(wiring, dict) or not all(isinstance(v, str) for v in wiring.values()):
            raise RigError("wiring file %s must be a JSON object of role: pin name" % text)
    else:
        wiring = {}
        for pair in text.split(","):
            role, sep, pin = pair.strip().partition("=")
            if not sep or not role or not pin:
                raise RigError("expected ROLE=PIN pairs or a wiring file, got %r" % pair)
            wiring[role] = pin
    unknown = sorted(set(wiring) - set(ROLES))
    if unknown:
        raise RigError("unknown rig role %s (roles: %s)" % (", ".join(unknown), ", ".join(ROLES)))
    return wiring


def blinka_pins(wiring):
    """{role: pin object} from the `board` module of this Blinka platform."""
    try:
        import board
    except (ImportError, NotImplementedError, RuntimeError) as exc:
        raise RigError("no Blinka board here (%s): is the FT232H/MCP2221 plugged in and "
                       "BLINKA_FT232H or BLINKA_MCP2221 set?" % exc)
    pins = {}
    for role, name in wiring.items():
        if not hasattr(board, name):
            raise RigError("%s=%s: this Blinka board has no pin %s" % (role, name, name))
        pins[role] = getattr(board, name)
    return pins


class Observation:
    """What the watched lines did after an injection. Times in s after it;
    None for a line that never changed."""

    def __init__(self, first_change_s, buzzer_changes, end_ns, resolution_s, reads):
        self.first_change_s = first_change_s
        self.buzzer_changes = buzzer_changes  # [(t_ns, level)], the first entry the idle level
        self.end_ns = end_ns
        self.resolution_s = resolution_s
        self.reads = reads

    def burst_pulses(self):
        """Pulses in the first buzzer burst, or None when no burst was seen to
        end (one still sounding when the watch stopped cannot be counted)."""
        gap_ns = BURST_GAP_S * 1e9
        bursts = split_bursts(pulses(self.buzzer_changes), gap_ns)
        if not bursts:
            return None
        last_end = bursts[0][-1][1]
        if len(bursts) == 1 and (last_end is None or self.end_ns - last_end <= gap_ns):
            return None
        return len(bursts[0])


def pulses(changes, merge_ns=MERGE_MS * 1e6):
    """[start_ns, end_ns] runs of activity from (t_ns, level) changes; the
    first change gives the idle level. An unfinished run ends with None."""
    if not changes:
        return []
    idle = changes[0][1]
    runs = []
    for t_ns, level in changes[1:]:
        if level != idle:
            if runs and runs[-1][1] is not None and t_ns - runs[-1][1] < merge_ns:
                runs[-1][1] = None  # a carrier dip, not a gap: the pulse goes on
            elif not runs or runs[-1][1] is not None:
                runs.append([t_ns, None])
        elif runs and runs[-1][1] is None:
            runs[-1][1] = t_ns
    return runs


def split_bursts(runs, gap_ns):
    bursts = []
    for run in runs:
        if bursts and run[0] - bursts[-1][-1][1] <= gap_ns:
            bursts[-1].append(run)
        else:
            bursts.append([run])
    return bursts


class BenchRig:
    """Fault lines driven and alarm lines watched through Blinka `digitalio`.

    `pins` maps roles (ROLES) to Blinka pin objects; `digitalio` is the
    module (passed in so a test board or a fake can stand in).
    """

    def __init__(self, pins, digitalio):
        self.lines = {}
        for role, pin in pins.items():
            line = digitalio.DigitalInOut(pin)
            line.switch_to_input()
            self.lines[role] = line

    def can_inject(self, test):
        return test in FAULT_LINES and FAULT_LINES[test][0] in self.lines

    def inject(self, test):
        line, level = FAULT_LINES[test]
        self.lines[line].switch_to_output(value=level)

    def release(self, test):
        self.lines[FAULT_LINES[test][0]].switch_to_input()

    def watched(self, lamp):
        """The wired roles among the buzzer and `lamp` ("red", "yellow")."""
        return [role for role in ("buzzer", lamp) if role in self.lines]

    def observe(self, inject, roles, timeout_s):
        """Read the idle levels, call inject(), then poll `roles` until each
        has changed and the first buzzer burst is over, or for timeout_s."""
        lines = [(role, self.lines[role]) for role in roles]
        last = {role: line.value for role, line in lines}
        inject()
        start = previous = time.monotonic_ns()
        deadline = start + int(timeout_s * 1e9)
        first = {role: None for role in roles}
        buzzer = [(start, last["buzzer"])] if "buzzer" in last else []
        worst_gap = reads = 0
        while True:
            now = time.monotonic_ns()
            worst_gap = max(worst_gap, now - previous)
            previous = now
            reads += 1
            for role, line in lines:
                level = line.value
                if level != last[role]:
                    last[role] = level
                    if first[role] is None:
                        first[role] = round((now - start) / 1e9, 6)
                    if role == "buzzer":
                        buzzer.append((now, level))
            if now >= deadline or self._done(first, buzzer, now):
                break
        return Observation(first, buzzer, now, worst_gap / 1e9, reads)

    @staticmethod
    def _done(first, buzzer, now):
        if any(t is None for t in first.values()):
            return False
        if not buzzer:
            return True
        t_ns, level = buzzer[-1]
        return level == buzzer[0][1] and now - t_ns > BURST_GAP_S * 1e9

    def close(self):
        for line in self.lines.values():
            line.deinit()


def open_rig(wiring_text):
    """The rig described by a wiring file or "role=PIN,..." text."""
    pins = blinka_pins(parse_wiring(wiring_text))
    import digitalio
    return BenchRig(pins, digitalio)
