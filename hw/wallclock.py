"""board.clock: (day, ms_of_day) from the DS3231's seconds plus ticks_ms.

The DS3231 counts whole seconds; the pump schedules in ms. The ms come from
the ticks, and the chip's seconds bound them. Two things a real chip does
shape how:

  - Its sub-second phase is unknown at boot: the seconds register may tick
    over 1 ms or 999 ms after the first read. A clock that assumed phase 0
    lags by up to a second and, when it notices, jumps; a schedule restarted
    on the lagging clock then catches up the jump at once and delivers ahead
    of the real elapsed time (a bolus at 35 steps/s gains 35 steps). So the
    boot polls the seconds register until it changes (bounded: a chip that
    never ticks is a clock fault, not a hang) and anchors there. The anchor
    is the tick after the read that saw the change, so the clock starts at or
    behind the chip, by at most one poll and read (EDGE_POLL_MS plus ~1 ms).
  - The RP2040's crystal and the DS3231's differ by tens of ppm, so the
    ticks wander off the chip's phase. The chip's seconds bound the clock on
    both sides at each reading: past the end of the chip's second it holds
    (never ahead of the chip), behind the start of it it slews forward by at
    most one ms in 2**SLEW_SHIFT (never a jump for the schedule to catch
    up). Only a gap larger than STEP_LIMIT_MS, the chip set from outside, is
    stepped: the controller treats a jump that large as a clock change and
    restarts its schedule without catching up.

Every integer here stays small for the life of the product: the time is kept
as (day, second of day, ms), never as seconds since 2000, which pass 2**30
(a long int on the RP2040) on 2034-01-10.

If the chip stops answering, the clock runs on from ticks alone and
`valid()` turns False until it answers again: the controller raises a clock
fault, and delivery is not stopped for want of a clock (an abrupt stop of
intrathecal baclofen is the worse hazard). With no chip at all from boot it
starts at day 0 and is never valid.

`ticks` is the time module on the board (ticks_ms, ticks_diff, ticks_add,
sleep_ms); the simulated board passes its own, so the same code runs there.
`read_ticks` is the tick of the last reading: step pulses are timed from it
(hw.stepper), not from whenever they are handed over.
"""
import time

from hw.ds3231 import S_PER_DAY
from pump.compat import const

EDGE_POLL_MS = const(1)
EDGE_TIMEOUT_MS = const(1_500)  # a running DS3231 ticks within 1 s
SLEW_SHIFT = const(9)           # forward slew at most 1 ms per 512 ms (~2000 ppm)
STEP_LIMIT_MS = const(120_000)  # past the controller's catch-up limit (70 s)


class WallClock:
    def __init__(self, rtc, ticks=time):
        self._rtc = rtc
        self._ticks = ticks
        self._answered = False
        self._stopped = False
        # the clock reads (_day, _sod s + _ms ms) at tick _at
        self._day = self._sod = self._ms = 0
        self._at = self.read_ticks = ticks.ticks_ms()
        self.phase_found = False
        if rtc is not None and self._read_rtc():
            self._find_edge()

    def valid(self):
        """The chip answered last time and its oscillator never stopped."""
        return self._rtc is not None and self._answered and not self._stopped

    def _find_edge(self):
        """Poll the seconds register until it changes; anchor just after
        the read that saw it (bounded by EDGE_TIMEOUT_MS)."""
        rtc, ticks = self._rtc, self._ticks
        day, second = rtc.day, rtc.second
        start = ticks.ticks_ms()
        while ticks.ticks_diff(ticks.ticks_ms(), start) < EDGE_TIMEOUT_MS:
            ticks.sleep_ms(EDGE_POLL_MS)
            if not self._read_rtc():
                break
            if rtc.second != second or rtc.day != day:
                self._anchor(rtc.day, rtc.second, 0)
                self.phase_found = True
                return
        # no edge seen: phase 0 at the last reading (behind by up to a second,
        # which the slew takes back)
        self._anchor(rtc.day, rtc.second, 0)

    def _anchor(self, day, second, ms):
        self._day, self._sod, self._ms = day, second, ms
        self._at = self.read_ticks = self._ticks.ticks_ms()

    def now(self):
        """(days since 2000-01-01, ms into the day), local time. Never runs
        backwards (unless the chip was set back from outside by more than
        STEP_LIMIT_MS), never ahead of the chip."""
        ticks = self._ticks
        at = ticks.ticks_ms()
        elapsed = ticks.ticks_diff(at, self._at)
        self._at = self.read_ticks = at
        if elapsed < 0:
            elapsed = 0
        before = self._ms
        ms = before + elapsed
        if self._rtc is not None and self._read_rtc():
            rtc = self._rtc
            low = ((rtc.day - self._day) * S_PER_DAY + rtc.second - self._sod) * 1000
            if ms > low + 999:  # ahead of the chip: hold (or follow it back if it was set)
                if ms - (low + 999) > STEP_LIMIT_MS:
                    ms = low
                else:
                    ms = low + 999 if low + 999 > before else before
            elif ms < low:  # behind the chip: slew, or step if it was set from outside
                gap = low - ms
                if gap > STEP_LIMIT_MS:
                    ms = low
                else:
                    slew = (elapsed >> SLEW_SHIFT) + 1
                    ms += gap if gap < slew else slew
        self._ms = ms
        self._carry()
        return self._day, self._sod * 1000 + self._ms

    def _carry(self):
        """Whole seconds out of _ms into the second of day and the day."""
        ms = self._ms
        if 0 <= ms < 1000:
            return
        whole = ms // 1000
        self._ms = ms - whole * 1000
        days, self._sod = divmod(self._sod + whole, S_PER_DAY)
        self._day += days

    def set(self, day, ms):
        """Set the wall clock to (day, ms_of_day), exact to the ms.

        Waits for the next whole second (under 1 s) and writes that, since
        writing the DS3231's seconds restarts its second there. OSError, and
        the clock unchanged, when the chip does not answer.
        """
        second = ms // 1000
        remainder_ms = ms % 1000
        if remainder_ms:
            self._ticks.sleep_ms(1000 - remainder_ms)
            second += 1
            if second == S_PER_DAY:
                day, second = day + 1, 0
        if self._rtc is not None:
            try:
                self._rtc.write(day, second)
            except OSError:  # not set at all: a time only in RAM would be lost at the next reset
                self._answered = False
                raise
            self._answered = True
            self._stopped = False
        self._anchor(day, second, 0)

    def _read_rtc(self):
        try:
            self._rtc.read()
        except OSError:
            self._answered = False
            return False
        self._answered = True
        self._stopped = self._rtc.oscillator_stopped
        return True
