"""The board contract: all that firmware/main.py and the pump logic use of a board.

A board is a folder boards/NAME/, installed on the device as the top-level
package `board`. main.py calls the package's functions (PACKAGE); build()
returns the board object, the pump's only way to the hardware, which has
the members of PUMP (used by firmware/pump) and SHELL (used by main.py
around it). The reference pump on a Pico-family board is built by
hw/pumpboard.py from its folder's pins.py and config.py; hw/sim/board.py
simulates it for the scenario runner, which stands in for main.py and so
needs only PUMP; boards/sim/realtime.py runs that simulation under main.py.

MicroPython has no typing or abc at run time, so the contract is names, and
no board imports this module: tools/deploy.py and the tests
(host_tests/test_board_contract.py) check each board against it with
`unmet`. A member is None for a method the firmware calls, else the tuple
of the members it uses of that value (empty for a plain value).
"""

PACKAGE = {
    "build": None,     # () -> the board object
    "panic": None,     # () the board could not be built: loud, not delivering, no reset loop
    "kbd_intr": None,  # (char) micropython.kbd_intr: -1 locks the console, 3 opens it
}

PUMP = {
    "name": (),                 # str: the board, in the `version` reply
    "serial_number": (),        # str: the pump's serial, on its refill card
    "calibration": (),          # dict: the values this board runs on (hw/calibration.py's keys)
    "calibration_limits": (),   # dict: key -> (low, high) accepted; steps_per_ml's is the tolerance
    "bench_enabled": (),        # bool: the bench jumper, read once at boot
    "startup_faults": (),       # [(alarm kind name, detail)]: what building the board found
    "stepper": ("pulse", "pending", "cancel", "stalled", "emitted"),  # hw/stepper.py
    "pressure": ("read_mpsi",),                    # hw/pressure.py
    "buzzer": ("play",),                           # hw/buzzer.py
    "lamps": ("show",),                            # hw/lamps.py
    "clock": ("now", "valid", "set"),              # hw/wallclock.py
    "fs": ("open", "rename", "sync", "remove"),    # hw/flashfs.py: the pump's records and log
    "end_of_travel": None,      # () -> bool: the plunger at the end of the reservoir
    "ack_pressed": None,        # () -> bool: the ACK button pressed since last asked
    "supply_mv": None,          # () -> int: the supply voltage, mV
    "temperature_mc": None,     # () -> int: the board's temperature, milli-degC
    "inject": None,             # (fault, value): bench fault injection (pump.bench)
    "selftest": None,           # (alarm patterns) -> [(check, result, detail)]
}

SHELL = {
    "service_mode": (),         # bool: the service jumper, read once at boot
    "device_key": (),           # bytes, or None on an unprovisioned board
    "watchdog": ("feed",),      # hw/watchdog.py
    "serial": ("readline", "write", "control", "cut"),  # hw/usb_serial.py
    "sleep_until": None,        # (ms): sleep, early for a press or a line, feeding the watchdog
    "reset": None,              # (): reboot (never returns)
}


def unmet(board, parts=(PUMP, SHELL)):
    """The names of `parts` that `board` (a board object, or with
    parts=(PACKAGE,) a board package) lacks, as "stepper.pulse", "reset"...;
    empty when it meets them."""
    missing = []
    for part in parts:
        for name, members in part.items():
            if not hasattr(board, name):
                missing.append(name)
            elif members is None:
                if not callable(getattr(board, name)):
                    missing.append(name)
            else:
                value = getattr(board, name)
                missing += [name + "." + member for member in members if not hasattr(value, member)]
    return missing
