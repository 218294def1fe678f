"""Throw random and mutated lines at the command protocol and count what comes back.

    python bench/protocol_fuzz.py [--lines N] [--seed S] [--json] [--micropython] [--quick]

Runs on CPython, or with --micropython in the MicroPython unix port (the
interpreter the board runs, whose JSON parser is not CPython's), 160K heap.
100 000 lines, or 2 000 with --quick.
The lines are a seeded mix of valid commands, replays, lines signed with the
wrong key, forged MACs, valid MACs over garbage arguments, mutated valid
lines, JSON-token soup and random bytes. The handler behind the protocol
checks every state-changing command it gets against the line that carried
it (HMAC over the exact body, counter above the last stored one).

Prints lines, accepted, refusals by error code, exceptions (escaped from
handle_line, or "internal" replies: must be 0), unauthenticated changes
(must be 0) and lines/s through handle_line. Exits 1 if a must-be-0 count
is not 0.
"""
import json
import random
import sys
import time

if sys.implementation.name != "micropython":
    import os
    import subprocess
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
    import mpenv
    mpenv.add_to_sys_path()

from pump.hmac256 import HmacSha256  # noqa: E402
from pump.protocol import Protocol, frame  # noqa: E402
from pump.schema import COMMANDS, STEP_FIELDS, needs_mac  # noqa: E402
from test_protocol import KEY, NOW_S, OTHER_KEY, MemoryCounter  # noqa: E402

try:
    from time import ticks_diff, ticks_us
except ImportError:  # CPython
    def ticks_us():
        return int(time.perf_counter() * 1_000_000)

    def ticks_diff(end, start):
        return end - start

SECONDS_PER_LINE = 7  # a lockout (600 s) lasts about 86 lines
SAMPLES = (
    ("bolus", {"mcg": 50}), ("resume", None), ("ack", None), ("silence", None), ("selftest", None),
    ("set_prescription", {"steps": [{"start": "00:00", "mcg_per_h": 30}, {"start": "07:00", "mcg_per_h": 20.5}]}),
    ("refill", {"add_ml": 15, "concentration_mcg_per_ml": 500}), ("stop", {"reason": "bench run"}),
    ("settings", {"low_reservoir_ml": 2, "low_reservoir_days": 7}), ("set_clock", {"iso": "2026-03-02T08:00:00"}),
    ("bench", {"fault": "pressure", "mpsi": 25000}), ("status", None), ("log", {"n": 5}), ("auth", None),
    ("patient", {"origin": "spinal", "age_years": 45, "days_since_implant": 200}),
)
JUNK_VALUES = (None, True, False, 0, -1, 0.5, 0.0001, 2000, 2001, 1 << 40, "", "x", "07:00", "24:00",
               "2026-02-29T00:00:00", "stall", [], {}, [{"start": "00:00", "mcg_per_h": 1}], [{"start": 1}])
SOUP = ('{', '}', '[', ']', ':', ',', ' ', '"cmd"', '"args"', '"ctr"', '"bolus"', '"mcg"', '"status"', '1', '-1',
        '0.5', '1e999', 'NaN', 'true', 'null', '"\\u0000"', '"\\ud800"', '"00:00"', '\\', '"', '01', '1e', '--1')
FIELD_NAMES = tuple(sorted(set(name for entry in COMMANDS.values() for name in entry[1]) | set(STEP_FIELDS)))
HEX_DIGITS = b"0123456789abcdef"


class AuditingHandler:
    """Counts commands and checks each state-changing one against the line that carried it."""

    def __init__(self, counter):
        self.mac_key = HmacSha256(KEY)
        self.counter = counter
        self.line = b""
        self.last_ctr = 0
        self.calls = 0
        self.unauthenticated = 0

    def execute(self, name, args, now_s):
        self.calls += 1
        if needs_mac(name) and not self._authentic():
            self.unauthenticated += 1
        return {"command": name}

    def _authentic(self):
        line = self.line[:-1] if self.line[-1:] == b"\r" else self.line
        body = line[65:]
        if line[:64].lower() + line[64:] != frame(self.mac_key, body):
            return False
        ctr = json.loads(body).get("ctr")
        return ctr > self.last_ctr and self.counter.get() == ctr


class Lines:
    """The seeded source of lines: valid ones, and every way of spoiling them."""

    def __init__(self, seed):
        random.seed(seed)
        self.mac_key = HmacSha256(KEY)
        self.other_key = HmacSha256(OTHER_KEY)
        self.ctr = 0
        self.recent = []

    def next_line(self):
        kind = random.randint(0, 9)
        if kind <= 1:
            return self.valid(signed=True)
        if kind == 2:
            return self.valid(signed=False)
        if kind == 3:
            return random.choice(self.recent) if self.recent else self.valid(signed=True)
        if kind == 4:
            return self.mutate(self.valid(signed=random.randint(0, 1) == 1, remember=False))
        if kind == 5:
            return self.sign(self.body(*random.choice(SAMPLES), ctr=self.ctr + 1), self.other_key)
        if kind == 6:
            return self.forge(self.valid(signed=True, remember=False))
        if kind == 7:
            self.ctr += 1
            return self.sign(self.body(random.choice(SAMPLES)[0], self.junk_args(), self.ctr))
        if kind == 8:
            return "".join(random.choice(SOUP) for _ in range(random.randint(0, 40))).encode()
        return bytes(random.getrandbits(8) for _ in range(random.randint(0, 600)))

    def valid(self, signed, remember=True):
        name, args = random.choice(SAMPLES)
        if not signed:
            return self.body(name, args, None)
        self.ctr += 1
        line = self.sign(self.body(name, args, self.ctr))
        if remember:
            self.recent = self.recent[-15:] + [line]
        return line

    def body(self, name, args, ctr):
        message = {"cmd": name}
        if args is not None:
            message["args"] = args
        if ctr is not None:
            message["ctr"] = ctr
        return json.dumps(message).encode()

    def sign(self, body, mac_key=None):
        return frame(mac_key or self.mac_key, body)

    def junk_args(self):
        args = {}
        for _ in range(random.randint(0, 3)):
            name = random.choice(FIELD_NAMES) if random.randint(0, 4) else "x%d" % random.randint(0, 9)
            args[name] = random.choice(JUNK_VALUES)
        return args

    def forge(self, line):
        at = random.randint(0, 63)
        digit = HEX_DIGITS[(HEX_DIGITS.index(line[at]) + random.randint(1, 15)) % 16]
        return line[:at] + bytes([digit]) + line[at + 1:]

    def mutate(self, line):
        for _ in range(random.randint(1, 4)):
            at = random.randint(0, len(line))
            op = random.randint(0, 4)
            if op == 0 and at < len(line):
                line = line[:at] + bytes([line[at] ^ (1 << random.randint(0, 7))]) + line[at + 1:]
            elif op == 1:
                line = line[:at] + line[at + random.randint(1, 8):]
            elif op == 2:
                line = line[:at] + bytes(random.getrandbits(8) for _ in range(random.randint(1, 4))) + line[at:]
            elif op == 3:
                line = line[:at]
            else:
                line = line[:at] + line[at:at + 16] + line[at:]
        return line


def run(count, seed):
    counter = MemoryCounter()
    handler = AuditingHandler(counter)
    protocol = Protocol(handler, KEY, counter, bench_enabled=True)
    source = Lines(seed)
    results = {"lines": count, "seed": seed, "interpreter": sys.implementation.name, "accepted": 0,
               "refused": {}, "exceptions": 0, "unauthenticated_changes": 0}
    busy_us = 0
    for i in range(count):
        line = source.next_line()
        handler.line, handler.last_ctr = line, counter.get()
        started = ticks_us()
        try:
            raw = protocol.handle_line(line, NOW_S + SECONDS_PER_LINE * i)
        except Exception:  # counted: the protocol promises this never happens
            results["exceptions"] += 1
            continue
        finally:
            busy_us += ticks_diff(ticks_us(), started)
        reply = json.loads(raw)
        if reply["ok"]:
            results["accepted"] += 1
        elif reply["error"] == "internal":
            results["exceptions"] += 1
        else:
            results["refused"][reply["error"]] = results["refused"].get(reply["error"], 0) + 1
    results["unauthenticated_changes"] = handler.unauthenticated
    results["handler_calls"] = handler.calls
    results["lines_per_s"] = int(count * 1_000_000 // max(busy_us, 1))
    return results


def report(results):
    print("protocol fuzz on %s: %d lines, seed %d" % (results["interpreter"], results["lines"], results["seed"]))
    print("  accepted                %8d" % results["accepted"])
    refused = results["refused"]
    print("  refused                 %8d" % sum(refused.values()))
    for code in sorted(refused, key=lambda c: -refused[c]):
        print("    %-21s %8d" % (code, refused[code]))
    print("  exceptions              %8d" % results["exceptions"])
    print("  unauthenticated changes %8d" % results["unauthenticated_changes"])
    print("  lines/s (handle_line)   %8d" % results["lines_per_s"])


def option(argv, name, default):
    return int(argv[argv.index(name) + 1]) if name in argv else default


def main(argv):
    if "--micropython" in argv and sys.implementation.name != "micropython":
        rest = [a for a in argv if a != "--micropython"]
        return subprocess.call(mpenv.micropython_command() + [os.path.abspath(__file__)] + rest,
                               cwd=mpenv.ROOT, env=mpenv.micropython_env())
    results = run(option(argv, "--lines", 2_000 if "--quick" in argv else 100_000), option(argv, "--seed", 1))
    if "--json" in argv:
        print(json.dumps(results))
    else:
        report(results)
    return 1 if results["exceptions"] or results["unauthenticated_changes"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
