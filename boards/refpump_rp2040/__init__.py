"""The reference pump board, rev A (Raspberry Pi Pico, RP2040). On the device
this folder is the top-level `board` package, so main.py does
`import board; b = board.build()`.

The folder holds only what is this board's: the pin map (pins.py) and the
config (config.py); hw/pumpboard.py builds the board from them. `build`
imports the drivers only when called: `config` and `pins` are plain data
that host tools read too, where there is no `machine` module.

`kbd_intr` is MicroPython's own: main.py locks the console through the board
package so that the simulated board, which has no USB stack, can follow the
same calls (boards/sim/console.py).
"""


def kbd_intr(char):
    from micropython import kbd_intr as set_interrupt_char
    set_interrupt_char(char)


def build():
    from hw.pumpboard import build as build_board
    from . import config, pins
    return build_board(pins, config)


def panic():
    from hw.pumpboard import panic as board_panic
    from . import config, pins
    board_panic(pins, config)  # returns only in service mode, to the REPL
