"""CPU time per wake-up of the control loop, and how long the board may sleep.

    .venv/bin/python bench/wakeups.py

bench/mp_control_loop.py runs the pump on the simulated board in the
MicroPython unix port (compiled .mpy) and times each Controller.advance()
with time.ticks_us(): the work of one wake-up (sensors, alarms, the next
batch of step pulses, and the flash save when one is due). The host CPU is
not the RP2040's 125 MHz Cortex-M0+, so the times are for comparing
versions and rates, not a board's figure; and other processes on the host
stretch some wake-ups, so each run is repeated TRIES times and the one
with the lowest 99th percentile is shown.

From the same runs: the board's wake-ups per hour next to the controller's
passes. A sleep lasts at most the watchdog's cap (timeout less margin); a
wake-up that only feeds it costs no controller pass (the board's
sleep_until feeds and sleeps again). The step edges: the latest a pulse was
handed over after its due time (timed from the clock reading it was planned
for, so only a pulse already due when its pass ends is late), next to how
long a pass took from its clock reading to the hand-off (flash writes first):
what edges timed from the hand-off would have been late by.
"""
from common import LOWEST, MAXIMUM, TYPICAL, full_or_quick, micropython, percentile, table
from hw.watchdog import MARGIN_MS, TIMEOUT_MS

WATCHDOG_CAP_MS = TIMEOUT_MS - MARGIN_MS

RUNS = ((LOWEST, 24), (TYPICAL, 24), (MAXIMUM, 6))  # 1 mL/h empties the 20 mL in 20 h
TRIES = full_or_quick(3, 1)
HEAP = "512K"  # the pump and its board ~200K, the histogram 40K; at 384K the report's json.dumps
               # failed now and then with MemoryError (main too, on a loaded host)


def timed_run(rate, hours):
    """(sorted advance() durations in us, one per controller pass; what the
    run saw of board wake-ups and edge timing)."""
    out, _wall_s = micropython("bench/mp_control_loop.py", rate.scenario(hours), HEAP, ["time"])
    return [us for us, count in out["advance_us"] for _ in range(count)], out["heap_seen"]


def main():
    rows = []
    for rate, hours in RUNS:
        durations, seen = min((timed_run(rate, hours) for _ in range(TRIES)),
                              key=lambda run: percentile(run[0], 0.99))
        passes_per_h = len(durations) / hours
        rows.append([rate.label, "%.2f" % rate.ul_per_h, "%d" % hours,
                     "%.0f" % (seen["board_wakes"] / hours), "%.0f" % passes_per_h,
                     "%d" % seen["late_ms"], "%d" % seen["handoff_ms"],
                     "%d" % percentile(durations, 0.5), "%d" % percentile(durations, 0.99), "%d" % durations[-1]])
    table("Wake-ups (MicroPython unix port, simulated board: watchdog cap %d ms on a sleep, flash writes "
          "timed; ticks_us around Controller.advance, best of %d)" % (WATCHDOG_CAP_MS, TRIES),
          ["rate", "uL/h", "hours", "board wake-ups/h", "controller passes/h", "worst late edge ms",
           "reading to hand-off ms", "median us", "p99 us", "max us"],
          rows)


if __name__ == "__main__":
    main()
