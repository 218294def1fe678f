"""The piezo on GP15: plays an alarm tone pattern from a timer, never from a sleep.

A pattern is the plain data pump.alarms hands out (its TONE_*_MS tables):

    tone_ms = (on, off, on, off, ..., on, off)    ms, an even count

tone on, tone off, alternately from the first entry; the last off is the gap
before the burst repeats, and the burst loops for as long as it plays. () or
None is silence. Playing the pattern already playing changes nothing, so the
controller may hand over its annunciation on every wake-up without
restarting the burst; a different pattern restarts from its first pulse.

The pitch is fixed by the board (a PWM frequency near the piezo's resonance,
the loudest it gets for its current). Each segment re-arms a one-shot virtual
timer; on rp2 with MicroPython 1.24 its callback is soft (scheduled), so it
may allocate, and its jitter of a few ms is far inside the tolerances of an
IEC 60601-1-8 alarm signal.
"""
from machine import Timer


class Buzzer:
    def __init__(self, pwm, tone_hz=2_700, duty_u16=32_768):
        self._pwm = pwm
        self._duty_u16 = duty_u16
        pwm.freq(tone_hz)
        pwm.duty_u16(0)
        self._timer = Timer()
        self._advance_cb = self._advance
        self._pattern = None
        self._segment = 0

    @property
    def playing(self):
        return self._pattern is not None

    def play(self, tone_ms):
        if not tone_ms:
            self.stop()
            return
        if tone_ms == self._pattern:
            return
        if len(tone_ms) % 2 or min(tone_ms) < 0 or sum(tone_ms) <= 0:
            raise ValueError("tone pattern is (on_ms, off_ms, ...): an even count of ms >= 0")
        self.stop()
        self._pattern = tone_ms
        self._segment = 0
        self._advance(None)

    def stop(self):
        self._timer.deinit()
        self._pwm.duty_u16(0)
        self._pattern = None

    def _advance(self, _timer):
        pattern = self._pattern
        if pattern is None:
            return
        segment = self._segment
        if segment == len(pattern):
            segment = 0
        self._pwm.duty_u16(0 if segment & 1 else self._duty_u16)
        hold_ms = pattern[segment]
        self._segment = segment + 1
        self._timer.init(mode=Timer.ONE_SHOT, period=hold_ms if hold_ms > 0 else 1,
                         callback=self._advance_cb)
