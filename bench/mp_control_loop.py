"""Driver for bench/heap.py and bench/wakeups.py, run by the MicroPython unix port:

    micropython -X heapsize=160K bench/mp_control_loop.py SCENARIO.json heap|time [MODULE ...]

The pump's control loop on the simulated board with the thinnest shell
there is, so that nothing but the pump and its board is in the heap (no
dose checker, no ledgers: hw/sim/runner.py's Run would not fit in 160K
next to the pump). It programs the pump over the protocol as the scenario's
`setup` says, then wakes the controller when it asks, emitting the pulses
it queued in between; the scenario's events are not played. It wraps
Controller.advance to look at every wake-up:
- `heap`: first imports MODULE... (the pump logic, in the order given)
  and then the simulated board, measuring what each import keeps. Then,
  around each programming command and each wake-up, collects and samples
  gc.mem_alloc() (what is live), and samples it again right after, without
  collecting: live plus all it allocated, garbage included (the heap it
  filled, if the collector did not run inside it), an upper bound on the
  heap it needs;
- `time`: time.ticks_us() around each advance(), with no collection forced,
  so the collector's own pauses fall where they would on a board;
  `advance_us` is a histogram, [[us, wake-ups], ...] (the last bucket
  counts everything from HISTOGRAM_US - 1 us up); `heap_seen` also holds
  the board's wake-ups with the watchdog's cap on a sleep and the step
  edges' timing (see run()).
Prints one JSON object.
"""
import gc
import json
import sys
import time
from array import array

KEY = b"bench-device-key-32-bytes-long!!"
HISTOGRAM_US = 20_000  # 2-byte counts: at most 65 535 wake-ups in one bucket


def import_cost(name):
    gc.collect()
    before = gc.mem_alloc()
    __import__(name)
    gc.collect()
    return gc.mem_alloc() - before


def heap_probe(advance, seen):
    def probed(day, ms):
        gc.collect()
        live = gc.mem_alloc()
        wake = advance(day, ms)
        after = gc.mem_alloc()
        if live > seen["live_max"]:
            seen["live_max"] = live
        if after > seen["peak_max"]:
            seen["peak_max"] = after
        if after - live > seen["alloc_max"]:
            seen["alloc_max"] = after - live
        return wake
    return probed


def timer(advance, histogram):
    """Counts each advance() by its duration in whole us (the last bucket
    takes everything longer): a preallocated histogram, so the timing
    itself neither allocates nor grows the heap the collector scans."""
    ticks_us, ticks_diff = time.ticks_us, time.ticks_diff
    last = len(histogram) - 1

    def timed(day, ms):
        start = ticks_us()
        wake = advance(day, ms)
        us = ticks_diff(ticks_us(), start)
        histogram[us if us < last else last] += 1
        return wake
    return timed


def program(ctl, setup, peak=None):
    """Each setup command signed as the clinician programmer signs it
    (HMAC of the body, in hex, a space, the body). With `peak` (a dict),
    records the heap right after each command, collected before it."""
    from pump.commands import Commands
    from pump.hmac256 import HmacSha256
    from pump.protocol import frame
    commands, mac = Commands(ctl, KEY), HmacSha256(KEY)
    for command in setup:
        body = json.dumps({"cmd": command["cmd"], "args": command["args"], "ctr": ctl.counter + 1}).encode()
        line = frame(mac, body)
        gc.collect()
        reply = commands.handle_line(line, ctl.now_s())
        if peak is not None and gc.mem_alloc() > peak["programming_max"]:
            peak["programming_max"] = gc.mem_alloc()
        reply = json.loads(reply)
        if not reply["ok"]:
            raise ValueError("the pump refused %s: %s" % (command["cmd"], reply["message"]))
    return commands


def run(board, advance, duration_ms, seen):
    """Wake the controller when it asks until duration_ms, reading the
    board's own wall clock (the DS3231 found at boot, flash writes that take
    their ms); returns its passes. The board between two passes sleeps in
    slices the watchdog allows: `board_wakes` counts every wake-up of the
    board, the feed-only ones and the passes. `handoff_ms` is the longest
    time between a pass's clock reading and its hand-off of pulses (what an
    edge timed from the hand-off would be late by); `late_ms` the latest an
    edge was handed over after its due time."""
    time_, stepper = board.time, board.stepper
    cap = board.watchdog.max_sleep_ms
    wakes = board_wakes = 0
    while time_.t_ms < duration_ms:
        day, ms = board.clock.now()
        read_t = time_.t_ms
        wake_ms = advance(day, ms)
        wakes += 1
        spent = time_.t_ms - read_t
        if spent > seen["handoff_ms"]:
            seen["handoff_ms"] = spent
        wake_t = read_t + wake_ms - ms
        t_next = wake_t if wake_t < duration_ms else duration_ms
        if t_next < time_.t_ms:
            t_next = time_.t_ms
        board_wakes += (t_next - time_.t_ms + cap - 1) // cap
        for _t, forward in stepper.due_before(t_next):
            stepper.emit(forward)
        time_.t_ms = t_next
    seen["board_wakes"] = board_wakes
    seen["late_ms"] = stepper.late_ms
    return wakes


def main(argv):
    path, mode, modules = argv[1], argv[2], argv[3:]
    with open(path) as f:
        scenario = json.load(f)
    if mode == "time":  # first, while the heap is empty
        histogram = array("H", bytes(2 * HISTOGRAM_US))
    gc.collect()
    out = {"heap_bytes": gc.mem_alloc() + gc.mem_free(), "interpreter_bytes": gc.mem_alloc()}
    if mode == "heap":
        out["module_bytes"] = [[name, import_cost(name)] for name in modules]
        out["board_import_bytes"] = import_cost("hw.sim.board")
    from hw.sim.board import SimBoard
    from pump.controller import Controller
    board = SimBoard(scenario["start_day"], scenario["start_ms"], scenario["seed"], scenario["fill_nl"],
                     scenario["calibration"])
    ctl = Controller(board, *board.time.day_ms())
    seen = out["heap_seen"] = {"programming_max": 0, "live_max": 0, "peak_max": 0, "alloc_max": 0,
                               "handoff_ms": 0}
    # the command handler stays alive through the run, as on a board
    _handler = program(ctl, scenario["setup"], seen if mode == "heap" else None)
    gc.collect()
    out["programmed_bytes"] = gc.mem_alloc()
    if mode == "heap":
        advance = heap_probe(ctl.advance, seen)
    else:
        advance = timer(ctl.advance, histogram)
    out["wakes"] = run(board, advance, scenario["duration_ms"], seen)
    if mode == "time":
        out["advance_us"] = [[us, n] for us, n in enumerate(histogram) if n]
    print(json.dumps(out))


main(sys.argv)
