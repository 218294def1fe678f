"""Board entry: lock the console, build the board, restore the pump, run the loop.

The USB serial line is both the pump's command channel and MicroPython's
console. Left as MicroPython sets it, one 0x03 byte raises KeyboardInterrupt
in the loop and the board drops to the REPL: delivery stops, and whoever
holds the cable can read the device key or rewrite the records. So the very
first statement turns the interrupt character off (`kbd_intr(-1)`, the
board package's name for `micropython.kbd_intr`): from then on 0x03, Ctrl-A
(raw REPL) and Ctrl-D (soft reset) are bytes the loop refuses, and nothing
ever returns to the REPL: any BaseException out of the loop, KeyboardInterrupt
and SystemExit included, is logged and the board resets, and the pump then
restores from flash, counts uncertain steps as delivered and raises the
`restart` alarm. A watchdog reset (a hang) ends the same way. A crash while
starting, before there is a controller to restore the dose into, ends in
fail_safe: the high alarm, no delivery, and no reset loop; one before there
is even a board object ends in the board's own panic(), which does the same
with its pins alone.

Service mode is the one way to the console: the board reads its service
jumper once at boot (`service_mode`). Then the pump does not deliver and
starts no watchdog, the lamps and a periodic tone say so, the log records
it, and Ctrl-C ends main.py into the REPL, where mpremote (deploy,
calibration) works. The first normal boot after it logs that service mode
was left.

The loop is the imperative shell around the pump logic: it reads the wall
clock, advances the controller to it, answers one command line at a time,
feeds the watchdog and sleeps until the controller's next wake-up (the board
wakes early for a button press or a serial line). Step pulses come from the
driver in the background, so the board sleeps between them.
"""
import board

board.kbd_intr(-1)  # before anything else: see above

try:  # a module that cannot be imported (a corrupt .mpy, no memory) must not end in the REPL either
    from pump import alarms, events
    from pump.commands import Commands
    from pump.controller import LOG_CAPACITY, Controller
    from pump.eventlog import EventLog
    from pump.units import MS_PER_DAY, S_PER_DAY
except BaseException:
    board.panic()  # returns only in service mode
    raise

CTRL_C = 3
CONSOLE_BURST_GAP_S = 10  # control bytes closer than this are one burst: one log entry
# Refusal of a line ended by console control bytes (pump.protocol's reply format).
CONSOLE_LOCKED_REPLY = (b'{"ok": false, "error": "console_locked", "message": "console control bytes'
                        b' (Ctrl-C, Ctrl-A, Ctrl-D...) are refused: the console opens only in service'
                        b' mode, chosen with the service jumper at boot"}\n')
SERVICE_REPLY = (b'{"ok": false, "error": "service_mode", "message": "service mode (service jumper'
                 b' fitted at boot): the pump is not delivering; Ctrl-C opens the REPL"}\n')
# Service mode's annunciation, unlike any alarm's: the green lamp flashing
# and two short chirps every 10 s. Both run from timers, so they go on at
# the REPL after Ctrl-C, until the board is reset without the jumper.
SERVICE_LAMP = (alarms.LAMP_GREEN, 100, 900)
SERVICE_TONE_MS = (80, 120, 80, 9720)
SERVICE_MARK = "service"  # in the pump's folder while the board is in service mode

TYPE_CHECKING = False
if TYPE_CHECKING:  # for pyright: MicroPython has no typing module (annotations are strings)
    from typing import NoReturn


def start(hardware):
    """The controller restored from flash, with the start-up faults the
    board found raised as alarms, and its command handler."""
    day, ms = hardware.clock.now()
    ctl = Controller(hardware, day, ms)
    for kind, _detail in hardware.startup_faults:
        ctl.startup_fault(alarms.KIND_NAMES.index(kind))
    left_service(hardware, ctl)
    hardware.watchdog.feed()
    return ctl, Commands(ctl, hardware.device_key)


def serve(hardware, ctl, commands, until=None):
    """Run the pump; `until(hardware)` (tests) ends the loop when true.

    A line the serial channel ended at console control bytes is refused
    whole; the log records the first of each burst (control bytes less than
    CONSOLE_BURST_GAP_S apart), so a flood of them cannot wear the flash."""
    serial = hardware.serial
    last_control_s = None
    while until is None or not until(hardware):
        day, ms = hardware.clock.now()
        wake_ms = ctl.advance(day, ms)
        hardware.watchdog.feed()
        line = serial.readline()
        if line is not None:
            now_s = ctl.now_s()
            if serial.control is not None:
                if last_control_s is None or not 0 <= now_s - last_control_s < CONSOLE_BURST_GAP_S:
                    ctl.record(now_s, events.CONSOLE_REFUSED, serial.control)
                last_control_s = now_s
                serial.write(CONSOLE_LOCKED_REPLY)
            else:
                commands.reply_to(serial.write, line, now_s, serial.cut)
            continue  # advance at once: the command may have changed what is due
        hardware.sleep_until((wake_ms if wake_ms <= MS_PER_DAY else MS_PER_DAY) - ms)


def main():
    try:
        hardware = board.build()
    except BaseException:  # not even a board object to alarm with: the board's own last resort
        board.panic()  # returns only in service mode
        raise
    if hardware.service_mode:
        service(hardware)  # ends in the REPL, by Ctrl-C: the one way there
    ctl = None
    try:
        try:
            ctl, commands = start(hardware)
        except BaseException:  # no controller, so no record of the dose: never guess one
            fail_safe(hardware)
        serve(hardware, ctl, commands)
    except BaseException as exc:  # the last line of defence: log, then reset loudly
        try:
            if ctl is not None:
                ctl.record(ctl.now_s(), events.CRASH, crash_code(exc))
        except BaseException:  # no controller (fail_safe itself failed), or no flash
            pass
    hardware.reset()  # whatever ended the loop: never the REPL


def service(hardware, until=None):
    """Service mode: no delivery, the console open, and the board saying so.

    Lines get a one-line refusal (the pump is not running); Ctrl-C raises
    KeyboardInterrupt, which is logged and ends main.py into the REPL.
    `until(hardware)` (tests) ends the wait instead."""
    hardware.stepper.cancel()
    log = EventLog(hardware.fs, "events", LOG_CAPACITY)
    entered_s = clock_s(hardware)
    log.append(entered_s, events.SERVICE_ENTERED)
    with hardware.fs.open(SERVICE_MARK, "w") as f:
        f.write("%d\n" % entered_s)
    hardware.lamps.show(SERVICE_LAMP)
    hardware.buzzer.play(SERVICE_TONE_MS)
    board.kbd_intr(CTRL_C)
    try:
        while until is None or not until(hardware):
            if hardware.serial.readline() is not None:
                hardware.serial.write(SERVICE_REPLY)
            hardware.sleep_until(1000)
    except KeyboardInterrupt:
        log.append(clock_s(hardware), events.SERVICE_CONSOLE)
        raise


def left_service(hardware, ctl):
    """The first normal boot after service mode logs that it was left."""
    try:
        with hardware.fs.open(SERVICE_MARK) as f:
            entered_s = int(f.read())
    except (OSError, ValueError):
        return
    ctl.record(ctl.now_s(), events.SERVICE_LEFT, entered_s)
    hardware.fs.remove(SERVICE_MARK)


def clock_s(hardware):
    day, ms = hardware.clock.now()
    return day * S_PER_DAY + ms // 1000


def fail_safe(hardware, until=None) -> "NoReturn":
    """The pump could not start (its state could not even be restored):
    sound the high-priority alarm and stay here, not delivering, feeding the
    watchdog so that a reset does not turn this into a silent boot loop.
    Only a person (a deploy, a power cycle) ends it."""
    hardware.stepper.cancel()
    hardware.buzzer.play(alarms.TONE_HIGH_MS)
    hardware.lamps.show(alarms.LAMPS[alarms.HIGH])
    while until is None or not until(hardware):
        hardware.watchdog.feed()
        hardware.sleep_until(1000)
    raise SystemExit("fail-safe")


def crash_code(exc):
    """What ended the loop, for the log: 1 + its index in events.CRASH_NAMES."""
    name = type(exc).__name__
    return events.CRASH_NAMES.index(name) + 1 if name in events.CRASH_NAMES else 0


if __name__ == "__main__":
    main()
