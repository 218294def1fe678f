"""board.clock: (day, ms_of_day) from the DS3231's seconds plus ticks_ms.

The DS3231 counts whole seconds; the pump schedules in ms. So the clock keeps
an anchor (an RTC second and the ticks_ms at which that second began) and
reads the RTC on every call:

  - the RTC agrees with the ticks: the answer is the RTC second plus the ms
    the ticks say have passed in it, and the anchor moves up to that second,
    so ticks_diff never spans more than a few wake-ups (ticks_ms wraps every
    2**30 ms on rp2, about 12.4 days; ticks_diff is only good within half
    of that);
  - the RTC has ticked over before the ticks said: its second began just
    now, and the anchor is moved there (this is how the sub-second phase is
    found after start-up: it is exact to within one wake-up interval);
  - the ticks ran ahead of the RTC: the time holds at the last ms of the
    RTC's second until it ticks, so the clock never runs backwards.

If the chip stops answering, the clock runs on from ticks alone and
`valid()` turns False until it answers again: the controller raises a clock
fault, and delivery is not stopped for want of a clock (an abrupt stop of
intrathecal baclofen is the worse hazard). With no chip at all from boot it
starts at day 0 and is never valid.
"""
import time

from hw.ds3231 import S_PER_DAY


class WallClock:
    def __init__(self, rtc):
        self._rtc = rtc
        self._answered = False
        self._stopped = False
        self._edge_s = 0
        self._edge_ticks = time.ticks_ms()
        if rtc is not None:
            second = self._read_rtc()
            if second is not None:
                self._edge_s = second
                self._edge_ticks = time.ticks_ms()

    def valid(self):
        """The chip answered last time and its oscillator never stopped."""
        return self._rtc is not None and self._answered and not self._stopped

    def now(self):
        """(days since 2000-01-01, ms into the day), local time."""
        ticks = time.ticks_ms()
        elapsed_ms = time.ticks_diff(ticks, self._edge_ticks)
        second = self._read_rtc() if self._rtc is not None else None
        if second is None:
            whole_s = elapsed_ms // 1000
            self._edge_s += whole_s
            self._edge_ticks = time.ticks_add(self._edge_ticks, whole_s * 1000)
            sub_ms = elapsed_ms - whole_s * 1000
        else:
            sub_ms = elapsed_ms - (second - self._edge_s) * 1000
            if sub_ms < 0:
                sub_ms = 0
            elif sub_ms > 999:
                sub_ms = 999
            self._edge_s = second
            self._edge_ticks = time.ticks_add(ticks, -sub_ms)
        second = self._edge_s
        return second // S_PER_DAY, (second % S_PER_DAY) * 1000 + sub_ms

    def set(self, day, ms):
        """Set the wall clock to (day, ms_of_day), exact to the ms.

        Waits for the next whole second (under 1 s) and writes that, since
        writing the DS3231's seconds restarts its second there.
        """
        second = day * S_PER_DAY + ms // 1000
        remainder_ms = ms % 1000
        if remainder_ms:
            time.sleep_ms(1000 - remainder_ms)
            second += 1
        if self._rtc is not None:
            try:
                self._rtc.write_s(second)
                self._answered = True
                self._stopped = False
            except OSError:
                self._answered = False
        self._edge_s = second
        self._edge_ticks = time.ticks_ms()

    def _read_rtc(self):
        try:
            second = self._rtc.read_s()
        except OSError:
            self._answered = False
            return None
        self._answered = True
        self._stopped = self._rtc.oscillator_stopped
        return second
