"""The simulated reference board. Deployed as the `board` package to the
MicroPython unix port (tools/deploy.py --board sim), `board.build()` boots
firmware/main.py on it in real time."""
from boards.sim.console import kbd_intr  # noqa: F401 (main.py locks the console through it)


def build():
    from .realtime import build as build_board
    return build_board()


def panic():
    raise SystemExit("the simulated board could not be built")
