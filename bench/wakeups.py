"""CPU time per wake-up of the control loop, and how long the board may sleep.

    .venv/bin/python bench/wakeups.py

bench/mp_control_loop.py runs the pump on the simulated board in the
MicroPython unix port (compiled .mpy) and times each Controller.advance()
with time.ticks_us(): the work of one wake-up (sensors, alarms, the next
batch of step pulses, and the flash save when one is due). The host CPU is
not the RP2040's 125 MHz Cortex-M0+, so the times are for comparing
versions and rates, not a board's figure; and other processes on the host
stretch some wake-ups, so each run is repeated TRIES times and the one
with the lowest 99th percentile is shown. Wake-ups per simulated hour come
from the same runs: between two wake-ups the driver's timer emits the
queued pulses and the board can sleep.
"""
from common import LOWEST, MAXIMUM, TYPICAL, micropython, percentile, table

RUNS = ((LOWEST, 24), (TYPICAL, 24), (MAXIMUM, 6))  # 1 mL/h empties the 20 mL in 20 h
TRIES = 3
HEAP = "384K"  # the pump and its board ~188K, the histogram 40K; at 256K the report's json.dumps
               # failed now and then with MemoryError (main too, on a loaded host)


def timed_run(rate, hours):
    """Sorted advance() durations in us, one per wake-up."""
    out, _wall_s = micropython("bench/mp_control_loop.py", rate.scenario(hours), HEAP, ["time"])
    return [us for us, count in out["advance_us"] for _ in range(count)]


def main():
    rows = []
    for rate, hours in RUNS:
        durations = min((timed_run(rate, hours) for _ in range(TRIES)), key=lambda d: percentile(d, 0.99))
        wakes_per_h = len(durations) / hours
        rows.append([rate.label, "%.2f" % rate.ul_per_h, "%d" % hours, "%d" % len(durations),
                     "%d" % percentile(durations, 0.5), "%d" % percentile(durations, 0.99), "%d" % durations[-1],
                     "%.0f" % wakes_per_h, "%.2f" % (3600 / wakes_per_h)])
    table("Control-loop wake-ups (MicroPython unix port, ticks_us around Controller.advance, best of %d)" % TRIES,
          ["rate", "uL/h", "hours", "wake-ups", "median us", "p99 us", "max us", "wake-ups/h", "mean sleep s"],
          rows)


if __name__ == "__main__":
    main()
