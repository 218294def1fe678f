"""Bench fault injection: what the `bench` command does to the pump.

The protocol refuses `bench` unless the BENCH-ENABLE jumper was fitted at
boot, so none of this can happen to a pump on a patient. Each injection is
logged (BENCH_FAULT, with its value) before it acts, and makes one alarm's
condition true the way the hardware would show it; the pump's own checks
then find it, so a bench test times the real detection path:

- on the board (board.inject): a pressure reading, a blocked line (the
  reading rises with the volume pushed), the transducer open, stuck or out
  of range, a stall on DIAG, the end-of-travel switch, VSYS, the die
  temperature, a DS3231 that stops answering, a flash write that fails, a
  reset (`restart`), the loop raising out to firmware/main.py, which logs
  the crash and resets (`crash`: a few in a row are a crash loop);
- in the pump: `low_reservoir` makes the volume left the low threshold, so
  the estimate itself is never touched; `outage` (minutes) saves the state
  record as if its last save had been that long ago, and resets: the boot
  then finds the power outage as after a real one (pump.boot measures it
  from the record's save time against the clock), while the clock itself
  stays right.

One fault at a time: a new one, or `clear`, first undoes the one before.
Undoing lifts what the injected fault alone had stopped, and only once its
condition is really gone: an injected empty reservoir resumes delivery when
the estimate is not empty and the switch is open (no refill is faked, so the
estimate is not inflated); an injected storage fault ends when a state
record saves again. A real empty reservoir or flash failure still needs its
own remedy (a refill, a new prescription). The faults that reset leave
nothing to undo but what the pump's own boot raised: a restart or a missed
delivery is acknowledged, a crash loop resumed by the clinician's `resume`,
as after a real one.
"""
import json

from pump import alarms, events
from pump.benchfaults import BENCH_FAULTS
from pump.stops import STOP_EMPTY, STOP_STORAGE
from pump.units import MS_PER_DAY, MS_PER_MIN

CLEAR = "clear"


class BenchFaults:
    def __init__(self, ctl):
        self.ctl = ctl
        self.active = CLEAR

    def inject(self, fault, value, now_s):
        """Undo the active fault, then inject `fault` (benchfaults.BENCH_FAULTS)
        with its value (benchfaults.BENCH_VALUE_UNITS) or None."""
        ctl = self.ctl
        self._undo(now_s)
        ctl.record(now_s, events.BENCH_FAULT, BENCH_FAULTS.index(fault), value or 0)
        self.active = fault
        reply = {"injected": fault}
        if fault == "low_reservoir":
            ctl.reservoir.low_threshold_steps = ctl.reservoir.remaining_steps()
        elif fault == "outage":
            ctl.store = _SavedEarlier(ctl.store, value * MS_PER_MIN)
            ctl.save()
            ctl.board.inject("restart", None)  # once the reply is out
        elif fault != CLEAR:
            if fault == "occlusion" and ctl.delivering:
                # Steps queued before count as used already: take them back (they
                # are queued again at once, the dose unchanged), so the estimate
                # now is where the volume pushed into the blocked line starts.
                ctl.restart_schedule()
                reply["remaining_nl"] = ctl.reservoir.remaining_nl()
            ctl.board.inject(fault, value)
        return reply

    def _undo(self, now_s):
        ctl, fault = self.ctl, self.active
        self.active = CLEAR
        if fault == CLEAR:
            return
        ctl.board.inject(CLEAR, None)
        if fault == "low_reservoir":
            ctl.refresh_limits()
        elif fault == "outage":  # another bench command came before the reset, which it cancels
            ctl.store = ctl.store.store
            ctl.save()  # over the back-dated record
        elif fault == "empty":
            if (ctl.stop_mask & STOP_EMPTY and not ctl.reservoir.is_empty()
                    and not ctl.board.end_of_travel()):
                ctl.resume(STOP_EMPTY, now_s)
        elif fault == "storage":
            if ctl.stop_mask & STOP_STORAGE and ctl.save():
                ctl.alarms.clear(alarms.STORAGE_FAULT, now_s)
                ctl.resume(STOP_STORAGE, now_s)
        elif fault == "pressure":
            # the forced readings were never the line's: from a forced high
            # level, the fall back to the real one would offset a real rise
            # in the detector's window and delay an occlusion alarm
            ctl.monitor.restart()


class _SavedEarlier:
    """The state store from an injected outage to the reset that follows:
    each record it saves says it was saved `ms` earlier than it was (its
    `t`, pump.state), as if that had been the last save before the power
    went. Any save before the reset (a new authorisation, an alarm) is
    back-dated too, so the boot always finds the outage."""

    def __init__(self, store, ms):
        self.store = store
        self.ms = ms

    def save(self, payload):
        record = json.loads(payload)
        day, ms = record["t"]
        ms -= self.ms  # at most ten days (pump.schema): small ints on the RP2040
        while ms < 0:
            day, ms = day - 1, ms + MS_PER_DAY
        record["t"] = [day, ms]
        self.store.save(json.dumps(record).encode())
