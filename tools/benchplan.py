"""The bench plan: what each alarm kind must look like when it rises.

The priority the risk analysis gives each kind (written in
firmware/pump/alarms.py, restated here on purpose: a bench test checks the
device against the plan, not against itself) and the IEC 60601-1-8 signal
of that priority. Shared by the simulator and board sessions of tools/bench.py.
"""
EXIT_FAIL = 1

# The bench plan: the priority each kind must come out at, from the risk
# analysis written in firmware/pump/alarms.py. Kept here on purpose rather
# than read from pump.alarms.RULES: a bench test checks the device against
# the plan, not against itself.
EXPECTED_PRIORITY = {
    "occlusion": "high", "empty_reservoir": "high", "motor_stall": "high",
    "pressure_sensor_fault": "high", "storage_fault": "high",
    "low_reservoir": "medium", "low_battery": "medium", "clock_fault": "medium", "delivery_stopped": "medium",
    "temperature": "low", "restart": "low", "crash_loop": "high",
    "missed_delivery": "high",  # as its scenario raises it: 12 h off (medium from 1 h missed, high from 4)
}
# A crash loop, as the plan has it: three crashes within 30 minutes (the
# design's figure, restated here for the same reason). A bench test crashes
# the board this many times in a row and expects crash_loop by the last boot.
CRASH_LOOP_CRASHES = 3
# What else a kind may raise when it rises: the stops that make delivery
# unsafe or impossible also raise delivery_stopped; a crash loop and a missed
# delivery come from restarts. Any other alarm raised during a test fails it:
# a bench test must not hide a second alarm.
CONSEQUENCES = {
    "occlusion": ("delivery_stopped",), "empty_reservoir": ("delivery_stopped",),
    "motor_stall": ("delivery_stopped",), "storage_fault": ("delivery_stopped",),
    "crash_loop": ("delivery_stopped", "restart"), "missed_delivery": ("restart",),
}
# IEC 60601-1-8 signals per priority: buzzer tone, lamp colour, lamp flash
# rate in Hz (None: steady), pulses per burst. Low priority: a steady yellow
# lamp; its optional tone is left out by this design (pump/alarms.py).
SIGNALS = {
    "high": ("high", "red", (1.4, 2.8), 10),
    "medium": ("medium", "yellow", (0.4, 0.8), 3),
    "low": ("none", "yellow", None, 0),
}

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


def unexpected(kind, raised):
    """Problems for the alarms in `raised` (kinds, in the order they rose)
    that neither `kind` nor its consequences explain."""
    allowed = (kind,) + CONSEQUENCES.get(kind, ())
    return ["also raised %s, which this test does not expect" % other
            for other in sorted(set(raised)) if other not in allowed]


def judged(row, found):
    row["problems"] = found
    row["result"] = "FAIL" if found else "PASS"
    return row


def skipped(row, note):
    row.update(result="SKIP", problems=[], note=note)
    return row
