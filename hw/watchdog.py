"""board.watchdog: the chip's hardware watchdog, fed by the main loop.

Once started it cannot be stopped (a hung loop must end in a reset, and the
restart alarm then tells the user). The board never sleeps longer than
`max_sleep_ms` in one go, so the loop always comes round to feed it with a
margin for one slow pass (a flash erase takes tens of ms, a GC a few).
TIMEOUT_MS and MARGIN_MS are the pump's, on every board and the simulated
one: the RP2040 allows at most 8388 ms, the RP2350 more.
"""
import time

TIMEOUT_MS = 8_000
MARGIN_MS = 2_000      # longest single sleep is TIMEOUT_MS - MARGIN_MS


class Watchdog:
    def __init__(self, wdt, timeout_ms=TIMEOUT_MS, margin_ms=MARGIN_MS):
        if margin_ms >= timeout_ms:
            raise ValueError("watchdog margin must be shorter than its timeout")
        self._wdt = wdt
        self.timeout_ms = timeout_ms
        self.max_sleep_ms = timeout_ms - margin_ms
        self._fed_ticks = time.ticks_ms()

    def feed(self):
        self._wdt.feed()
        self._fed_ticks = time.ticks_ms()

    def ms_since_feed(self):
        return time.ticks_diff(time.ticks_ms(), self._fed_ticks)
