"""Event-log codes: what the pump did and why, and how to say it in words.

The log (pump.eventlog) stores (time_s, code, a, b) with a and b signed
32-bit ints; this module gives each code its name and the meaning of a and
b, and `describe` turns an entry back into words, so a reader of the log
(pumpctl log) sees what happened, not numbers. Free text (a stop reason, an
override reason) follows the entry it explains as NOTE entries, 8 bytes of
UTF-8 in each.
"""
import struct

from pump import alarms
from pump.compat import const
from pump.benchfaults import BENCH_FAULTS, BENCH_VALUE_UNITS
from pump.stops import reason_names
from pump.units import NG_PER_MCG, NL_PER_ML, clock_s_to_iso

RESTART = const(1)          # a: store status at boot (BOOT_STATUS), b: steps counted as used
PRESCRIPTION = const(2)     # a: daily ng, b: 1 when soft limits were overridden
REFILL = const(3)           # a: volume nL after refill, b: concentration ng/uL
ALARM_RAISED = const(4)     # a: alarm kind
ALARM_ACKNOWLEDGED = const(5)
ALARM_CLEARED = const(6)
ALARM_SILENCED = const(7)
ALARM_ESCALATED = const(8)
STOPPED = const(9)          # a: stop reasons now (pump.stops), NOTE: the reason given
RESUMED = const(10)         # a: stop reasons lifted
BOLUS = const(11)           # a: bolus ng, b: its duration in ms
SETTINGS = const(12)        # a: low reservoir nL, b: low reservoir days
STORAGE_FALLBACK = const(13)
AUTH_FAILED = const(14)     # a: bad MACs in a row
LOCKED_OUT = const(15)      # a: lockout s
BENCH_FAULT = const(16)     # a: index in BENCH_FAULTS, b: its value (BENCH_VALUE_UNITS)
CATHETER_FLAG = const(17)   # a: new daily ng
CLOCK_SET = const(18)       # a: old time_s, b: new time_s
OVERRIDE = const(19)        # a: soft rules overridden, NOTE: the reason given
DELIVERY_GAP = const(20)    # a: s since the last wake-up (the shell woke far too late)
COMMAND = const(21)         # a: 1 + index in COMMAND_NAMES
CRASH = const(22)           # a: 1 + index in CRASH_NAMES (0: another exception)
NOTE = const(23)            # a, b: 8 bytes of text about the entry before
REPLAY = const(24)          # a: counter refused
BENCH_REFUSED = const(25)   # bench injection without the jumper
PROTOCOL_FAULT = const(26)  # an exception behind the protocol (a defect); the reply said so
ALARM_RESOUNDED = const(27)  # a: alarm kind; acknowledged, and sounding again (pump.alarms)
MISSED_DELIVERY = const(28)  # a: mcg an outage missed, b: minutes off; -1: unknown (pump.boot)
BOLUS_CUT = const(29)       # a: bolus ng that may have gone in, b: ng that did not (a remainder may follow)
PATIENT_RESET = const(30)   # a: 1 when a prescription was running, NOTE: the reason given
PATIENT_OVERRIDE = const(31)  # a: soft rules the running program breaks for the patient, NOTE: the reason
CONSOLE_REFUSED = const(32)  # a: the first console control byte of a burst (0x03 Ctrl-C...)
SERVICE_ENTERED = const(33)  # booted with the service jumper: no delivery, console open
SERVICE_CONSOLE = const(34)  # service mode: Ctrl-C ended the firmware into the REPL
SERVICE_LEFT = const(35)     # first normal boot after service mode; a: time_s it was entered
PRIME = const(36)           # a: line nL filled, b: duration ms (line volume, not dose)
BRIDGE = const(37)          # a: old drug nL pushed at its own concentration, b: that concentration ng/uL
BRIDGE_END = const(38)      # a: new concentration ng/uL: the new drug reached the catheter tip
SINGLE_BOLUS = const(39)    # a: 1 when stopped-pump mode follows, 0 when the schedule does

NAMES = {
    RESTART: "restart", PRESCRIPTION: "prescription", REFILL: "refill",
    ALARM_RAISED: "alarm_raised", ALARM_ACKNOWLEDGED: "alarm_acknowledged",
    ALARM_CLEARED: "alarm_cleared", ALARM_SILENCED: "alarm_silenced",
    ALARM_ESCALATED: "alarm_escalated", STOPPED: "stopped", RESUMED: "resumed",
    BOLUS: "bolus", SETTINGS: "settings", STORAGE_FALLBACK: "storage_fallback",
    AUTH_FAILED: "auth_failed", LOCKED_OUT: "locked_out", BENCH_FAULT: "bench_fault",
    CATHETER_FLAG: "catheter_flag", CLOCK_SET: "clock_set", OVERRIDE: "override",
    DELIVERY_GAP: "delivery_gap", COMMAND: "command", CRASH: "crash", NOTE: "note",
    REPLAY: "replay", BENCH_REFUSED: "bench_refused", PROTOCOL_FAULT: "protocol_fault",
    ALARM_RESOUNDED: "alarm_resounded", MISSED_DELIVERY: "missed_delivery",
    BOLUS_CUT: "bolus_cut", PATIENT_RESET: "patient_reset", PATIENT_OVERRIDE: "patient_override",
    CONSOLE_REFUSED: "console_refused", SERVICE_ENTERED: "service_entered",
    SERVICE_CONSOLE: "service_console", SERVICE_LEFT: "service_left",
    PRIME: "prime", BRIDGE: "bridge", BRIDGE_END: "bridge_end", SINGLE_BOLUS: "single_bolus",
}

BOOT_STATUS = ("empty", "ok", "fallback", "fault")
# The code of a command in the log (COMMAND entries: a = 1 + its index).
# The names are pump.schema's COMMANDS (but `auth`), kept again here on
# purpose: a code written to flash must name the same command for as long
# as a log is read, so the order is a fact of its own, which the schema's
# dict (unordered on MicroPython) cannot hold. Append, never reorder; a
# command taken out of the schema keeps its place. The logic test
# test_command_table.py checks the names against the schema and that no
# code has moved.
COMMAND_NAMES = ("status", "prescription", "reservoir", "alarms", "log", "version", "plan", "patient",
                 "set_prescription", "refill", "bolus", "stop", "resume", "ack", "silence", "settings",
                 "set_clock", "bench", "selftest", "card", "prime", "bridge")
CRASH_NAMES = ("MemoryError", "OSError", "ValueError", "TypeError", "KeyError", "IndexError",
               "AttributeError", "KeyboardInterrupt", "SystemExit")
NOTE_BYTES = const(8)
NOTE_MAX_BYTES = const(120)


def note_words(text):
    """`text` as the (a, b) pairs of NOTE entries (at most NOTE_MAX_BYTES,
    cut between characters)."""
    data = text.encode()
    while len(data) > NOTE_MAX_BYTES:
        text = text[:-1]
        data = text.encode()
    words = []
    for at in range(0, len(data), NOTE_BYTES):
        chunk = data[at:at + NOTE_BYTES]
        words.append(struct.unpack("<ii", chunk + bytes(NOTE_BYTES - len(chunk))))
    return words


def note_text(words):
    """The text of NOTE entries' (a, b) pairs, in the order they were logged."""
    data = b"".join(struct.pack("<ii", a, b) for a, b in words)
    try:
        return str(data.rstrip(b"\0"), "utf-8")
    except UnicodeError:  # a note whose first entries rolled off the ring
        return "(part of a note)"


def _named(table, index):
    return table[index] if 0 <= index < len(table) else str(index)


def _mcg(ng):
    whole, part = divmod(ng, NG_PER_MCG)
    return "%d.%03d mcg" % (whole, part) if part else "%d mcg" % whole


def describe(code, a, b):
    """An entry's a and b in words."""
    if ALARM_RAISED <= code <= ALARM_ESCALATED or code == ALARM_RESOUNDED:
        return _named(alarms.KIND_NAMES, a)
    if code == STOPPED or code == RESUMED:
        return ", ".join(reason_names(a))
    if code == PRESCRIPTION:
        return _mcg(a) + "/day" + (", soft limits overridden" if b else "")
    if code == REFILL:
        return "%d.%06d mL at %d mcg/mL" % (a // NL_PER_ML, a % NL_PER_ML, b)
    if code == BOLUS:
        return "%s over %d s" % (_mcg(a), b // 1000)
    if code == BOLUS_CUT:
        return "cut short: at most %s went in, %s did not" % (_mcg(a), _mcg(b))
    if code == PATIENT_RESET:
        return "new patient: history reset" + (" (the running program was checked)" if a else "")
    if code == PATIENT_OVERRIDE:
        return "running program kept for the patient, %d soft limit(s) overridden" % a
    if code == SETTINGS:
        return "low at %d.%06d mL or %d days" % (a // NL_PER_ML, a % NL_PER_ML, b)
    if code == RESTART:
        return "flash %s, %d uncertain steps counted as delivered" % (_named(BOOT_STATUS, a), b)
    if code == BENCH_FAULT:
        fault = _named(BENCH_FAULTS, a)
        return fault + (" %d %s" % (b, BENCH_VALUE_UNITS[fault]) if fault in BENCH_VALUE_UNITS else "")
    if code == CATHETER_FLAG:
        return "escalation to %s/day: check the catheter" % _mcg(a)
    if code == CLOCK_SET:
        return "%s -> %s" % (clock_s_to_iso(a), clock_s_to_iso(b))
    if code == OVERRIDE:
        return "%d soft limit(s) overridden" % a
    if code == DELIVERY_GAP:
        return "woke %d s late: schedule restarted from now" % a
    if code == COMMAND:
        return _named(COMMAND_NAMES, a - 1)
    if code == CRASH:
        return _named(CRASH_NAMES, a - 1) if a else "another exception"
    if code == MISSED_DELIVERY:
        if a < 0:
            return "off for an unknown time: the clock cannot say what was missed"
        return "%d mcg not delivered in the %d min since the pump was last known running" % (a, b)
    if code == AUTH_FAILED:
        return "%d bad MAC(s) in a row" % a
    if code == LOCKED_OUT:
        return "programming locked for %d s" % a
    if code == REPLAY:
        return "counter %d refused" % a
    if code == CONSOLE_REFUSED:
        return "console control byte 0x%02x refused (console locked)" % a
    if code == SERVICE_CONSOLE:
        return "Ctrl-C: the REPL was opened"
    if code == SERVICE_LEFT:
        return "service mode since %s" % clock_s_to_iso(a)
    if code == PRIME:
        return "line primed: %d uL over %d s (not dose)" % (a // 1000, b // 1000)
    if code == BRIDGE:
        return "bridge: %d uL of the %d mcg/mL drug in the line pushed at its own rate" % (a // 1000, b)
    if code == BRIDGE_END:
        return "%d mcg/mL drug at the catheter tip: its rate takes over" % a
    if code == SINGLE_BOLUS:
        return "single bolus, then " + ("stopped-pump mode" if a else "the schedule")
    return ""
