"""Board entry: build the board, restore the pump from flash, run the loop.

The loop is the imperative shell around the pump logic: it reads the wall
clock, advances the controller to it, answers one command line at a time,
feeds the watchdog and sleeps until the controller's next wake-up (the board
wakes early for a button press or a serial line). Step pulses come from the
driver in the background, so the board sleeps between them.

A crash must never end delivery silently: any exception out of the loop is
logged (as far as flash still allows) and the board resets; the pump then
restores from flash, counts uncertain steps as delivered, and raises the
`restart` alarm. A watchdog reset (a hang) ends the same way. A crash while
starting, before there is a controller to restore the dose into, ends in
fail_safe: the high alarm, no delivery, and no reset loop; one before there
is even a board object ends in the board's own panic(), which does the same
with its pins alone.
"""
import board

from pump import alarms, events
from pump.commands import Commands
from pump.controller import Controller
from pump.units import MS_PER_DAY

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
    hardware.watchdog.feed()
    return ctl, Commands(ctl, hardware.device_key)


def serve(hardware, ctl, commands, until=None):
    """Run the pump; `until(hardware)` (tests) ends the loop when true."""
    serial = hardware.serial
    while until is None or not until(hardware):
        day, ms = hardware.clock.now()
        wake_ms = ctl.advance(day, ms)
        hardware.watchdog.feed()
        line = serial.readline()
        if line is not None:
            serial.write(commands.handle_line(line, ctl.now_s(), serial.cut))
            continue  # advance at once: the command may have changed what is due
        hardware.sleep_until((wake_ms if wake_ms <= MS_PER_DAY else MS_PER_DAY) - ms)


def main():
    try:
        hardware = board.build()
    except Exception:  # not even a board object to alarm with: the board's own last resort
        board.panic()
    try:
        ctl, commands = start(hardware)
    except Exception:  # no controller, so no record of the dose: never guess one
        fail_safe(hardware)
    try:
        serve(hardware, ctl, commands)
    except Exception as exc:  # the last line of defence: log, then reset loudly
        try:
            ctl.record(ctl.now_s(), events.CRASH, crash_code(exc))
        except Exception:
            pass
        hardware.reset()


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
