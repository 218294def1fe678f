"""The stepper's pulse path under the real MicroPython VM, with the heap locked.

CPython cannot tell whether code allocates; the MicroPython unix port can
(`micropython.heap_lock()` turns any allocation into MemoryError). The unix
port has no `machine` or `rp2`, so this writes minimal stand-ins (their own
methods allocate nothing either) and runs hw.stepper's `pulse()` and its
hard-IRQ handler with the heap locked: the handler runs in an interrupt on
the RP2040, where an allocation would fail.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import mpenv  # noqa: E402

MACHINE = '''
class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8

    def __init__(self, pin_id, mode=0, pull=0, value=0):
        self.level = value

    def value(self, level=None):
        if level is None:
            return self.level
        self.level = level

    def irq(self, handler=None, trigger=0, hard=False):
        self.handler = handler


def disable_irq():
    return 1


def enable_irq(state):
    pass
'''

RP2 = '''
from array import array


class PIO:
    OUT_LOW = 2
    JOIN_TX = 1


def asm_pio(**config):
    return lambda program: program


class StateMachine:
    def __init__(self, sm_id):
        self.fifo = array("I", bytes(32))
        self.count = 0
        self.running = False

    def init(self, program, freq=-1, sideset_base=None):
        self.count = 0

    def active(self, value=None):
        if value is not None:
            self.running = bool(value)
        return self.running

    def irq(self, handler=None, trigger=1, hard=False):
        self.handler = handler

    def put(self, word):
        if self.count == 8:
            raise RuntimeError("FIFO full")
        self.fifo[self.count] = word
        self.count += 1

    def tx_fifo(self):
        return self.count

    def pull(self):
        # What the PIO does: take the oldest word (shifting a fixed array).
        word = self.fifo[0]
        for i in range(1, self.count):
            self.fifo[i - 1] = self.fifo[i]
        self.count -= 1
        return word
'''

SCRIPT = '''
import micropython
from array import array
from machine import Pin
import rp2
from hw.stepper import Stepper


def exercise(stepper, sm, offsets):
    # A function, so that nothing here grows the module's globals dict.
    words = 0
    stepper.pulse(offsets, 64)
    stepper.pulse(offsets, 64)
    for _ in range(128):
        words += 1 if sm.pull() >= 0 else 0
        stepper._on_pulse(sm)
    stepper._on_diag(None)
    return words


enable = Pin(4, value=1)
stepper = Stepper(0, Pin(2), Pin(3), enable, Pin(5), capacity=128)
sm = rp2.StateMachine(0)
offsets = array("I", range(10, 1290, 10))
words = 0
micropython.heap_lock()
try:
    words = exercise(stepper, sm, offsets)
finally:
    micropython.heap_unlock()
print(stepper.emitted, stepper.pending(), enable.value(), words, stepper.stalled())
'''


def test_pulse_and_the_pulse_irq_handler_allocate_nothing_under_micropython(tmp_path):
    (tmp_path / "machine.py").write_text(MACHINE)
    (tmp_path / "rp2.py").write_text(RP2)
    (tmp_path / "script.py").write_text(SCRIPT)
    env = mpenv.micropython_env()
    env["MICROPYPATH"] = str(tmp_path) + ":" + env["MICROPYPATH"]
    result = subprocess.run(mpenv.micropython_command() + [str(tmp_path / "script.py")],
                            cwd=mpenv.ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["128", "0", "1", "128", "True"]
