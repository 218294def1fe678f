"""Why the pump is not delivering: one bit per reason, any bit set raises
the delivery_stopped alarm (the pump never stops silently). Several reasons
can hold at once (an occlusion while stopped by command); each is lifted by
its own remedy, and delivery restarts only when none is left."""
from pump.compat import const

STOP_COMMAND = const(1)     # stop command (overdose response); lifted by resume
STOP_OCCLUSION = const(2)   # lifted by ACK once the pressure is back to baseline
STOP_STALL = const(4)       # lifted by ACK or resume: the next steps retry the motor
STOP_EMPTY = const(8)       # lifted by a refill
STOP_STORAGE = const(16)    # flash unusable; lifted by a new prescription that saves
STOP_CRASHES = const(32)    # the firmware keeps crashing (pump.boot); lifted by resume

NAMES = ((STOP_COMMAND, "command"), (STOP_OCCLUSION, "occlusion"), (STOP_STALL, "motor_stall"),
         (STOP_EMPTY, "empty_reservoir"), (STOP_STORAGE, "storage_fault"), (STOP_CRASHES, "crash_loop"))


def reason_names(mask):
    return [name for bit, name in NAMES if mask & bit]
