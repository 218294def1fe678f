"""Why the pump is not delivering: one bit per reason, any bit set raises
the delivery_stopped alarm (the pump never stops silently). Several reasons
can hold at once (an occlusion while stopped by command); each is lifted by
its own remedy, and delivery restarts only when none is left.

A person lifts stops by one of two acts, and which reasons each may lift is
written here once: an acknowledgement (the ACK button or the `ack` command)
lifts the stops of a hazard the person has now seen to, and the signed
`resume` command those too and the ones only a clinician's decision ends.
Neither lifts an occlusion whose pressure is not yet back to baseline
(pump.monitor's Monitor.resumable applies that condition), nor an empty
reservoir or a storage fault, which only their remedy ends."""
from pump.compat import const

STOP_COMMAND = const(1)     # stop command (overdose response): a clinician's resume
STOP_OCCLUSION = const(2)   # once the pressure is back to baseline: ACK or resume
STOP_STALL = const(4)       # ACK or resume: the next steps retry the motor
STOP_EMPTY = const(8)       # a refill
STOP_STORAGE = const(16)    # flash unusable; a new prescription that saves
STOP_CRASHES = const(32)    # the firmware keeps crashing (pump.boot): a clinician's resume

# What each act of a person may lift (the conditions permitting).
LIFTED_BY_ACK = const(STOP_OCCLUSION | STOP_STALL)
LIFTED_BY_RESUME = const(LIFTED_BY_ACK | STOP_COMMAND | STOP_CRASHES)

NAMES = ((STOP_COMMAND, "command"), (STOP_OCCLUSION, "occlusion"), (STOP_STALL, "motor_stall"),
         (STOP_EMPTY, "empty_reservoir"), (STOP_STORAGE, "storage_fault"), (STOP_CRASHES, "crash_loop"))


def reason_names(mask):
    return [name for bit, name in NAMES if mask & bit]
