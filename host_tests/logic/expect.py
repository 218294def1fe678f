"""What the shared tests need beyond `assert`, since they cannot use pytest
(they also run under MicroPython, tools/mptest.py)."""


def raises(exception, action):
    """True when action() raises `exception`."""
    try:
        action()
    except exception:
        return True
    return False
