"""The alarm lamps: red GP16, yellow GP17, green GP18, lit when driven high.

A lamp pattern is the plain data pump.alarms hands out (its LAMPS table):

    (colour, on_ms, off_ms)    colour 0 red, 1 yellow, 2 green
                               (pump.alarms' LAMP_RED, LAMP_YELLOW, LAMP_GREEN)

One lamp lit, the other two dark; off_ms == 0 is steady, otherwise it
flashes on_ms on, off_ms off from a one-shot timer chain. One lamp at a time
is what IEC 60601-1-8 visual signals need: red flashing for high priority,
yellow flashing for medium, yellow steady for low, green when all is well.
None darkens all three. Showing what is already shown changes nothing, so a
flash keeps its phase when the controller repeats itself.
"""
from machine import Timer


class Lamps:
    def __init__(self, red, yellow, green):
        self._pins = (red, yellow, green)
        for pin in self._pins:
            pin.value(0)
        # rp2's Timer() without an id is a virtual (software) timer; the stub
        # requires the id, so the call is suppressed here alone.
        self._timer = Timer()  # pyright: ignore[reportCallIssue]
        self._toggle_cb = self._toggle
        self._shown = None
        self._flashing = None
        self._on_ms = 0
        self._off_ms = 0

    @property
    def flashing(self):
        return self._flashing is not None

    def show(self, lamp):
        if lamp == self._shown:
            return
        colour, on_ms, off_ms = (0, 1, 0) if lamp is None else lamp
        if not 0 <= colour < len(self._pins) or on_ms <= 0 or off_ms < 0:
            raise ValueError("lamp pattern is (colour 0-2, on_ms > 0, off_ms >= 0)")
        self._timer.deinit()
        self._flashing = None
        for each in self._pins:
            each.value(0)
        self._shown = lamp
        if lamp is None:
            return
        pin = self._pins[colour]
        pin.value(1)
        if off_ms:
            self._flashing = pin
            self._on_ms, self._off_ms = on_ms, off_ms
            self._timer.init(mode=Timer.ONE_SHOT, period=on_ms, callback=self._toggle_cb)

    def _toggle(self, _timer):
        pin = self._flashing
        if pin is None:
            return
        lit = not pin.value()
        pin.value(1 if lit else 0)
        self._timer.init(mode=Timer.ONE_SHOT, period=self._on_ms if lit else self._off_ms,
                         callback=self._toggle_cb)
