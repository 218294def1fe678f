"""What a restart must say beyond the restored state: a crash loop, and the
dose a power outage cost.

Why: the low-priority `restart` alarm says that the pump came back, not
what that cost the patient. Two cases need more:

- Firmware that crashes at every boot resets again and again (firmware/main.py
  logs each crash and resets): each boot would show only `restart`, while
  delivery barely runs. CRASH_LOOP_CRASHES crashes within CRASH_LOOP_WINDOW_S
  stop delivery with the high `crash_loop` alarm, logged with how many crashes
  in how long. Three in 30 minutes: one crash is what a reset is for, two can
  be coincidence (an ESD event, a brown-out), three within half an hour mean
  the firmware cannot keep running for ten minutes, which is no base to dose
  a drug on (the accounting of a crashing pump is suspect). A window of 30
  minutes still catches a loop whose period is the ten-minute authorisation
  write, and does not add up crashes days apart. Only the authenticated
  `resume` lifts it: a clinician who has read the log decides, not a
  patient's ACK; delivery_stopped keeps reminding until then.
  The crashes are counted from the event log's CRASH entries: walking back
  from the newest, until one older than the window, one stamped after now
  (the clock was set back since: its place in time is unknown, and crashes
  since the change are still counted), or the resume that lifted the last
  crash-loop stop. A hang that the watchdog resets leaves no CRASH entry and
  is not counted.

- A long power outage: the state record carries the wall time of its last
  save (written at least every ten minutes while delivering), so the boot
  knows how long the pump was off and what the prescription asked for in
  that time. Less the steps that were authorised and may have gone out (they
  are counted as delivered), that is the missed dose. It is logged in mcg
  (MISSED_DELIVERY) and raises `missed_delivery`: medium from
  MISSED_MEDIUM_H hours of the average basal rate, high from MISSED_HIGH_H
  (withdrawal signs are reported within hours; after four a clinician should
  see the patient). Below an hour the `restart` alarm alone says it. Delivery
  resumes at the prescribed rate without catching up; whether to re-titrate
  after days without drug is the clinician's call, which the high alarm asks for.
  A wall clock that cannot be trusted (the RTC says it lost its time, or it
  reads earlier than the record's save: set back, or reset) gives an outage
  of unknown length, which may have been days: `missed_delivery` high, logged
  as unknown (-1). A record from before the time was kept (a firmware
  update, done by a person with the pump in hand) has no outage to measure.
"""
from pump import alarms, events
from pump.compat import const
from pump.stops import STOP_CRASHES
from pump.units import MS_PER_DAY, NG_PER_MCG

CRASH_LOOP_CRASHES = const(3)
CRASH_LOOP_WINDOW_S = const(1800)
CRASH_SCAN_ENTRIES = const(64)  # a boot logs about 5 entries: room for 10 boots in the window
MISSED_MEDIUM_H = const(1)
MISSED_HIGH_H = const(4)
UNKNOWN = const(-1)
INT32_MAX = const(0x7FFFFFFF)


def recent_crashes(log, now_s):
    """CRASH entries in the newest CRASH_LOOP_WINDOW_S of the log (see above)."""
    count = 0
    for _seq, time_s, code, a, _b in log.newest(CRASH_SCAN_ENTRIES):
        if time_s > now_s or now_s - time_s > CRASH_LOOP_WINDOW_S:
            break
        if code == events.RESUMED and a & STOP_CRASHES:
            break
        if code == events.CRASH:
            count += 1
    return count


def check_crashes(ctl, now_s):
    """Stop delivery with crash_loop when the pump keeps crashing."""
    if ctl.stop_mask & STOP_CRASHES:
        return  # already stopped for it (restored): its alarm came back with the record
    crashes = recent_crashes(ctl.log, ctl.clock_s(now_s))  # the log keeps calendar seconds
    if crashes < CRASH_LOOP_CRASHES:
        return
    ctl.alarms.raise_(alarms.CRASH_LOOP, now_s)
    ctl.stop(STOP_CRASHES, now_s, "%d crashes in %d min" % (crashes, CRASH_LOOP_WINDOW_S // 60))


def missed_ng(ctl, saved_at, uncertain_steps):
    """The dose the prescription asked for since the record was saved at
    `saved_at` ((day, ms of day)), less what the uncertain steps may have
    delivered; None when the clock cannot say how long the pump was off."""
    day, ms = saved_at
    off_ms = (ctl.day - day) * MS_PER_DAY + ctl.ms - ms
    if off_ms < 0 or not ctl.board.clock.valid():
        return None
    asked = ctl.prescription.ng_between(day, ms, ctl.day, ctl.ms)
    maybe_out = uncertain_steps * ctl.reservoir.concentration_ng_per_ul * 1000 // ctl.steps_per_ml
    return asked - maybe_out if asked > maybe_out else 0


def check_outage(ctl, saved_at, uncertain_steps, now_s):
    """Raise missed_delivery for an outage that cost an hour of basal or
    more, or whose length is unknown; log what it cost. Only a pump that
    was delivering when its record was saved missed anything (a stopped one
    restores its delivery_stopped alarm)."""
    if saved_at is None or ctl.prescription is None or ctl.stop_mask:
        return
    missed = missed_ng(ctl, saved_at, uncertain_steps)
    daily_ng = ctl.prescription.daily_ng()
    if missed is None:
        priority, mcg, minutes = alarms.HIGH, UNKNOWN, UNKNOWN
    else:
        if missed * 24 >= daily_ng * MISSED_HIGH_H:
            priority = alarms.HIGH
        elif missed * 24 >= daily_ng * MISSED_MEDIUM_H:
            priority = alarms.MEDIUM
        else:
            return
        day, ms = saved_at
        mcg = min(missed // NG_PER_MCG, INT32_MAX)
        minutes = min(((ctl.day - day) * MS_PER_DAY + ctl.ms - ms) // 60_000, INT32_MAX)
    ctl.record(now_s, events.MISSED_DELIVERY, mcg, minutes)
    ctl.alarms.raise_(alarms.MISSED_DELIVERY, now_s, priority)
    ctl.alarms.clear(alarms.MISSED_DELIVERY, now_s)  # a past loss: latched until acknowledged
