"""Event-log codes: what the pump did and why, one small int each.

The log (pump.eventlog) stores (time_s, code, a, b); this table gives each
code its name and the meaning of a and b, so a reader of the log on the
host (pumpctl log, the sim report) sees words, not numbers.
"""
from pump.compat import const

RESTART = const(1)          # a: store status at boot, b: steps counted as used (uncertain)
PRESCRIPTION = const(2)     # a: daily ng, b: override flag (1 when soft limits were overridden)
REFILL = const(3)           # a: volume nL after refill, b: concentration ng/uL
ALARM_RAISED = const(4)     # a: alarm kind
ALARM_ACKNOWLEDGED = const(5)
ALARM_CLEARED = const(6)
ALARM_SILENCED = const(7)
ALARM_ESCALATED = const(8)
STOPPED = const(9)          # a: stop reasons mask
RESUMED = const(10)
BOLUS = const(11)           # a: bolus ng, b: steps
SETTINGS = const(12)        # a: low reservoir nL, b: low reservoir days
STORAGE_FALLBACK = const(13)
AUTH_FAILED = const(14)     # a: failures in a row
LOCKED_OUT = const(15)      # a: lockout seconds
BENCH_FAULT = const(16)     # a: fault code
CATHETER_FLAG = const(17)   # a: new daily ng, b: old daily ng
CLOCK_SET = const(18)       # a: old time_s, b: new time_s
OVERRIDE = const(19)        # a: violated rules count
DELIVERY_GAP = const(20)    # a: ms skipped (the shell woke late)
COMMAND = const(21)         # a: command index in the protocol's table
CRASH = const(22)           # a: 1 + index in CRASH_NAMES of the exception (0: another)

NAMES = {
    RESTART: "restart", PRESCRIPTION: "prescription", REFILL: "refill",
    ALARM_RAISED: "alarm_raised", ALARM_ACKNOWLEDGED: "alarm_acknowledged",
    ALARM_CLEARED: "alarm_cleared", ALARM_SILENCED: "alarm_silenced",
    ALARM_ESCALATED: "alarm_escalated", STOPPED: "stopped", RESUMED: "resumed",
    BOLUS: "bolus", SETTINGS: "settings", STORAGE_FALLBACK: "storage_fallback",
    AUTH_FAILED: "auth_failed", LOCKED_OUT: "locked_out", BENCH_FAULT: "bench_fault",
    CATHETER_FLAG: "catheter_flag", CLOCK_SET: "clock_set", OVERRIDE: "override",
    DELIVERY_GAP: "delivery_gap", COMMAND: "command", CRASH: "crash",
}

# What ended the main loop, as far as the log can say it in a small int.
CRASH_NAMES = ("MemoryError", "OSError", "ValueError", "TypeError", "KeyError", "IndexError",
               "AttributeError")
