"""What the shared tests need beyond `assert`, since they cannot use pytest
(they also run under MicroPython, tools/mptest.py)."""


def raises(exception, action):
    """True when action() raises `exception`."""
    try:
        action()
    except exception:
        return True
    return False


try:
    import micropython
    heap_lock, heap_unlock = micropython.heap_lock, micropython.heap_unlock
except (ImportError, AttributeError):  # CPython: no heap to lock
    def heap_lock():
        """Nothing to lock on CPython."""
    heap_unlock = heap_lock
