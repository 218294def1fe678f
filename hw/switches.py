"""Switches to ground with the internal pull-up: a closed contact reads 0.

`DebouncedButton` is ACK/SILENCE (GP20). A falling edge starts a one-shot
settle timer; when it fires the pin must still read pressed for the press to
count, so contact bounce on either edge never counts twice, and a press is
latched even if the main loop only looks long after it was released. Presses
are counted by the IRQ side and taken by the main loop side, so neither ever
writes what the other writes and no press is lost between a read and a clear.

`LimitSwitch` is the end-of-travel (GP6) or home (GP7) microswitch, wired
normally closed: its contact holds the pin low while the plunger is away
from that end and opens at it, so a broken wire or a pulled connector reads
as "at the end" and the motor stops, rather than pushing on past a switch
it can no longer hear (docs/HARDWARE.md). The opening edge calls a hook (the
stepper's halt toward that end), so the motor stops at the stop without
waiting for the controller's next wake-up.
"""
from machine import Pin, Timer


class DebouncedButton:
    def __init__(self, pin, settle_ms=30):
        self._pin = pin
        self._settle_ms = settle_ms
        # rp2's Timer() without an id is a virtual (software) timer; the stub
        # requires the id, so the call is suppressed here alone.
        self._timer = Timer()  # pyright: ignore[reportCallIssue]
        self._settle_cb = self._settle
        self._settling = False
        self._presses = 0   # written only by the settle timer
        self._taken = 0     # written only by the main loop
        pin.irq(handler=self._on_fall, trigger=Pin.IRQ_FALLING)

    def pressed(self):
        """True once per press."""
        if self._presses == self._taken:
            return False
        self._taken += 1
        return True

    def press_waiting(self):
        """A press not yet taken (lets a sleep end early without taking it)."""
        return self._presses != self._taken

    def _on_fall(self, _pin):
        if self._settling:
            return
        self._settling = True
        self._timer.init(mode=Timer.ONE_SHOT, period=self._settle_ms, callback=self._settle_cb)

    def _settle(self, _timer):
        self._settling = False
        if self._pin.value() == 0:
            self._presses += 1


class LimitSwitch:
    def __init__(self, pin):
        self._pin = pin
        self._on_reached = None
        pin.irq(handler=self._on_rise, trigger=Pin.IRQ_RISING)

    def active(self):
        """At this end: the contact is open (or its wire is broken)."""
        return self._pin.value() == 1

    def on_reached(self, hook):
        self._on_reached = hook

    def _on_rise(self, _pin):
        if self._on_reached is not None:
            self._on_reached()
