"""The reference pump board, rev A. On the device this folder is the top-level
`board` package, so main.py does `import board; b = board.build()`.

`build` imports the drivers only when called: `config` (pins aside, the
board's nominal calibration) is plain data that the simulated board and the
host tools read too, where there is no `machine` module.

`kbd_intr` is MicroPython's own: main.py locks the console through the board
package so that the simulated board, which has no USB stack, can follow the
same calls (boards/sim/console.py).
"""


def kbd_intr(char):
    from micropython import kbd_intr as set_interrupt_char
    set_interrupt_char(char)


def build():
    from .board import build as build_board
    return build_board()


def panic():
    from .board import panic as board_panic
    board_panic()  # returns only in service mode, to the REPL
