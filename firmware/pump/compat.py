"""`const` for the pump logic: folded at compile time on MicroPython, the
identity on CPython, so the same source runs on both."""
try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value
