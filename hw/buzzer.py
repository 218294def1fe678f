"""The piezo on GP15: plays an alarm tone pattern from a timer, never from a sleep.

A pattern is the plain data pump.alarms hands out (its TONE_*_MS and
REMIND_*_MS tables):

    tone_ms = (on, off, on, off, ..., on, off)    ms, an even count: loops
    tone_ms = (on, off, ..., on)                  an odd count: plays once

tone on, tone off, alternately from the first entry. An alarm signal ends on
the gap before the burst repeats, and loops for as long as it plays; a
reminder ends on a tone, and the buzzer falls silent after it. () or None is
silence. Playing the pattern already playing (or just played once) changes
nothing, so the controller may hand over its annunciation on every wake-up
without restarting the burst or repeating a reminder; a different pattern
restarts from its first pulse.

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
        # rp2's Timer() without an id is a virtual (software) timer; the stub
        # requires the id, so the call is suppressed here alone.
        self._timer = Timer()  # pyright: ignore[reportCallIssue]
        self._advance_cb = self._advance
        self._pattern = None  # the pattern handed over last, even once played out
        self._segment = 0
        self._sounding = False

    @property
    def playing(self):
        return self._sounding

    def play(self, tone_ms):
        if not tone_ms:
            self.stop()
            return
        if tone_ms == self._pattern:
            return
        if min(tone_ms) < 0 or sum(tone_ms) <= 0:
            raise ValueError("tone pattern is (on_ms, off_ms, ...): ms >= 0, not all 0")
        self.stop()
        self._pattern = tone_ms
        self._segment = 0
        self._sounding = True
        self._advance(None)

    def stop(self):
        self._timer.deinit()
        self._pwm.duty_u16(0)
        self._pattern = None
        self._sounding = False

    def _advance(self, _timer):
        pattern = self._pattern
        if pattern is None or not self._sounding:
            return
        segment = self._segment
        if segment == len(pattern):
            if segment & 1:  # a reminder ends on its tone: silent, and done
                self._pwm.duty_u16(0)
                self._sounding = False
                return
            segment = 0
        self._pwm.duty_u16(0 if segment & 1 else self._duty_u16)
        hold_ms = pattern[segment]
        self._segment = segment + 1
        self._timer.init(mode=Timer.ONE_SHOT, period=hold_ms if hold_ms > 0 else 1,
                         callback=self._advance_cb)
