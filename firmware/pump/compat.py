"""`const` for the pump logic: folded at compile time on MicroPython, the
identity on CPython, so the same source runs on both."""
try:
    # The stub's const takes its argument positional-only, which MicroPython's
    # syntax cannot say in the fallback below: the same function all the same.
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(value):
        return value
