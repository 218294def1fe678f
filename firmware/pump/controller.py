"""The pump: delivery, reservoir, alarms and flash composed behind advance().

The shell (firmware/main.py on the board, hw/sim/runner.py on a host) calls
`advance(day, ms)` with the wall time, as days since 2000-01-01 and ms into
the day, and sleeps until the time of day it returns. Nothing here reads a
clock or names a pin.

Delivery runs in segments of constant rate (a flex step, cut at midnight and
at bolus ends; see pump.delivery). At each wake-up the controller checks the
sensors, then queues the next batch of step pulses, at most BATCH of them
and at most a minute ahead, with their exact times; the driver emits them
from a timer while the board sleeps. A batch this small bounds what goes out
between two pressure readings (8 steps, 0.6 uL), which is what lets an
occlusion be seen within a few uL.

Power-cut safety (never double-deliver, never overestimate the reservoir):
before a batch is queued, the state record in flash must already authorise
it: `authorized_steps` is the count of used steps up to which delivery may
go. It is extended, and saved, when a batch would pass it, by the larger of
the batch and AUTH_WINDOW_MS of delivery at the current rate. After a reset
the controller cannot know how much of the authorised part went out, so it
counts all of it as used (the reservoir estimate only drops) and restarts
the schedule from the time of the restart, without catching up (so nothing
goes out twice). A reset therefore loses at most ten minutes of delivery, or
one step where one step takes longer than that (3 steps/h at the lowest
dose). The flash cost is one record write per ten minutes of delivery at
most: 144 a day, whatever the rate (bench/flash_wear.py measures it).
"""
from array import array

from pump import events
from pump.alarms import AlarmManager
from pump import alarms as kinds
from pump.compat import const
from pump.delivery import Pacer, bolus_plan, segment_den, segment_num
from pump.eventlog import EventLog
from pump.monitor import Monitor
from pump.reservoir import Reservoir
from pump.state import StateCodec
from pump.stops import (LIFTED_BY_ACK, LIFTED_BY_RESUME, STOP_COMMAND, STOP_CRASHES, STOP_EMPTY, STOP_OCCLUSION,
                        STOP_STORAGE)
from pump.store import RecordStore
from pump.units import MS_PER_DAY, S_PER_DAY

BATCH = const(8)
MAX_WAKE_GAP_MS = const(60_000)
AUTH_WINDOW_MS = const(600_000)
# Steps more than EN_IDLE_MS apart are queued one at a time, EN_LEAD_MS
# before they are due, so the queue empties between them and the driver
# releases EN (hw.stepper): the TMC2209's coils then draw nothing, and the
# lead screw does not back-drive. A queue that always held a minute of steps
# kept EN asserted all day at a typical rate.
EN_IDLE_MS = const(3_000)
EN_LEAD_MS = const(20)
BACKOFF_GAP_MS = const(5)  # between the reverse steps after an occlusion
LATE_WAKE_LIMIT_MS = const(10_000)  # past a minute and this, do not catch up: restart from now
LOG_CAPACITY = const(512)
# pump.alarms event -> event-log code
ALARM_EVENT_CODES = {kinds.RAISED: events.ALARM_RAISED, kinds.ACKNOWLEDGED: events.ALARM_ACKNOWLEDGED,
                     kinds.CLEARED: events.ALARM_CLEARED, kinds.SILENCED: events.ALARM_SILENCED,
                     kinds.ESCALATED: events.ALARM_ESCALATED, kinds.RESOUNDED: events.ALARM_RESOUNDED}



class Controller:
    def __init__(self, board, day, ms):
        self.board = board
        self.steps_per_ml = board.calibration["steps_per_ml"]
        self.bolus_rate_nl_per_h = board.calibration["bolus_rate_nl_per_h"]
        self.store = RecordStore(board.fs, "state", StateCodec.VERSION, StateCodec.migrate)
        self.log = EventLog(board.fs, "events", LOG_CAPACITY)
        self.alarms = AlarmManager(self._on_alarm_event)
        self.monitor = Monitor(self.steps_per_ml)
        self.reservoir = Reservoir(board.calibration["capacity_nl"], self.steps_per_ml,
                                   board.calibration_limits["steps_per_ml"])
        self.pacer = Pacer()
        self.offsets = array("I", [0] * BATCH)
        self.prescription = None
        self.patient = None
        self.settings = {"low_nl": 2_000_000, "low_days": 7}
        self.history = None  # titration history, owned by pump.titration
        self.clock_offset_s = 0  # the sum of every set_clock jump (steady_s)
        self.refilled_s = None  # steady_s of the last refill (pump.commands: the refill-visit rule)
        self.stop_mask = 0
        self.stopped_since = None  # (day, ms) delivery stopped, kept while any stop reason holds
        self.starts = 0  # delivery (re)starts: the dose checks restart their ideal
        self.alarms_changed = False
        self.authorized_steps = 0
        self.queued_at_command = 0  # pulses queued when the last command line came in
        self.counter = 0  # protocol counter, persisted with the state
        self.bolus_num = 0
        self.bolus_lump = 0
        self.bolus_end = None  # (day, ms) where the bolus part of the rate ends
        self.bolus_next = None  # type: tuple[int, int, int] | None  # a bolus planned, to begin at the next wake-up
        # pump.therapy: a single bolus or a prime holds the basal, and may stop
        # the pump when it ends (the reason, kept in the state record); the
        # old drug in the line after a concentration change [ng/uL, used
        # steps when it has left the tip, 1 while bridging: paced at it]
        self.basal_held = False
        self.stop_after_bolus = None
        self.line_drug = None
        self.day = day
        self.ms = ms
        self.epoch_day = day  # a new pump's; pump.state restores a programmed one's
        self.seg_day = day
        self.seg_start_ms = ms
        self.seg_num = 0
        self.seg_den = 1
        self.seg_carry = 0
        self.window_steps = 0  # what AUTH_WINDOW_MS of this segment can deliver
        self.debt = 0  # segment units below 0 that went out ahead when delivery stopped
        StateCodec.restore(self, day, ms)
        if self.alarms.condition_present(kinds.PRESSURE_SENSOR_FAULT):
            self.monitor.sensor.carry_fault()
        self._annunciate(self.now_s())  # at once: a boot that crashes before its first wake-up still sounds

    # ---------------------------------------------------------------- time
    def now_s(self):
        """The pump's seconds: since the start of `epoch_day`, the day its
        state record was first written (pump.state keeps it). Seconds since
        2000 pass 2**30 on 2034-01-10, after which every wake-up would make
        long ints on the RP2040; these stay small for 34 years from a pump's
        first day. Every time the pump keeps (alarms, titration, the
        protocol's lockout) is in this frame; the event log, replies and the
        clock commands take calendar seconds, `clock_s`."""
        return (self.day - self.epoch_day) * S_PER_DAY + self.ms // 1000

    def clock_s(self, now_s):
        """Calendar seconds since 2000-01-01 of a pump time (a long int from
        2034: only where flash is written or a reply is made)."""
        return self.epoch_day * S_PER_DAY + now_s

    def steady_s(self):
        """Seconds on a clock no command can move: the wall clock minus the
        sum of every jump set_clock made (kept in the state record). The
        24 h rules (after implant, between increases and boluses, the
        refill visit) measure elapsed time on it, so setting the clock a
        day ahead lets nothing through early. The one home of the fact: a
        change in how the wall clock is kept changes this method only."""
        return self.now_s() - self.clock_offset_s

    def set_clock(self, new_s):
        """Set the wall clock (`new_s`: calendar seconds); steady_s does not
        move: the jump is the same in the calendar and the pump's frame.
        A jump is not time the patient lived: the schedule restarts at the
        new reading with the fraction of a step owed at the old one, so
        nothing is caught up (a clock set ahead) or given again (set back),
        and a bolus in flight keeps the time it had left. OSError when the
        DS3231 does not take the time (nothing changed)."""
        now_s = self.now_s()
        old_s = self.clock_s(now_s)
        old_day, old_ms = self.day, self.ms
        owed = self._take_back() if self.delivering else 0
        try:
            self.board.clock.set(new_s // S_PER_DAY, new_s % S_PER_DAY * 1000)
        except OSError:  # the DS3231 does not answer: the time stays, the schedule goes on from now
            if self.delivering:
                self._start_segment(self.day, self.ms, owed)
            raise
        self.day, self.ms = self.board.clock.now()
        self.clock_offset_s += new_s - old_s
        if self.bolus_end is not None:
            jump_ms = (self.day - old_day) * MS_PER_DAY + self.ms - old_ms
            end_day, end_ms = self.bolus_end
            days, end_ms = divmod(end_ms + jump_ms, MS_PER_DAY)
            self.bolus_end = (end_day + days, end_ms)
        if self.delivering:
            self._start_segment(self.day, self.ms, owed)
        self.record(now_s, events.CLOCK_SET, old_s, new_s)
        self.save()

    @property
    def delivering(self):
        """Running a program, or a bolus on its own (a screening bolus in the
        trial before implant, when there is no program; also the one planned
        to begin at the next wake-up), with no stop reason."""
        return (self.prescription is not None or self.bolus_end is not None or self.bolus_next is not None) \
            and self.stop_mask == 0

    def advance(self, day, ms):
        """Do what is due at (day, ms); return the ms of day to wake next
        (MS_PER_DAY means midnight). The shell calls it again right after a
        command (pump.commands), which may have changed the schedule."""
        self._follow_clock(day, ms)
        now_s = self.now_s()
        pressed = self.board.ack_pressed()
        if pressed:  # what the person heard, before the checks raise anything new
            self.alarms.acknowledge(now_s)
        self.monitor.check(self, now_s)
        if pressed:  # on the conditions as they are now, not as they were
            self.resume(self.monitor.resumable(self, LIFTED_BY_ACK), now_s)
        self._update_stop_alarm(now_s)
        if self.delivering:
            if self.bolus_next is not None:
                self._begin_bolus(self.bolus_next)
            wake = self._queue_batch()
        else:
            self.bolus_next = None
            wake = min(ms + MAX_WAKE_GAP_MS, MS_PER_DAY)
        self.alarms.tick(now_s)
        self._annunciate(now_s)
        if self.alarms_changed:  # latched alarms must survive a restart
            self.alarms_changed = False
            self.save()
        return wake

    def _follow_clock(self, day, ms):
        """Segments are anchored to the time of day; a clock that went back,
        or a shell that woke far too late, restarts the segment at now. A
        bolus in flight is cut there: its end is a wall time, which a clock
        set back would push away (an overdose at the bolus rate)."""
        behind = (day - self.day) * MS_PER_DAY + ms - self.ms
        self.day, self.ms = day, ms
        if behind < 0 or behind > LATE_WAKE_LIMIT_MS + MAX_WAKE_GAP_MS:
            if self.delivering:
                self.record(self.now_s(), events.DELIVERY_GAP, behind // 1000)
                self.cut_bolus(self.now_s())
                self.restart_schedule(catch_up=False)

    # ------------------------------------------------------------ delivery
    def restart_schedule(self, catch_up=True):
        """Start a new segment at now, from what was really emitted, with
        the drug owed now (segment units: a fraction of a step, or below 0 a
        debt, pump.delivery). Without `catch_up` nothing owed is given, but
        a debt is still paid: what went out ahead is never forgotten."""
        owed = self._take_back()
        self._start_segment(self.day, self.ms, owed if catch_up or owed < 0 else 0)

    def _take_back(self):
        """Cancel the pulses queued and not yet out (they were counted as
        used when queued); the fraction of a step owed now."""
        dropped = self.board.stepper.cancel()
        self.reservoir.use(-dropped)
        return self._carry_at(self.day, self.ms, self.pacer.count - dropped)

    def _carry_at(self, day, ms, steps_taken):
        elapsed = (day - self.seg_day) * MS_PER_DAY + ms - self.seg_start_ms
        return self.seg_carry + self.seg_num * elapsed - steps_taken * self.seg_den

    def pacing_concentration(self):
        """The concentration steps are paced at: the reservoir's, or during a
        bridge the old drug's still in the line (pump.therapy)."""
        line = self.line_drug
        if line is not None and line[2]:
            return line[0]
        return self.reservoir.concentration_ng_per_ul or 1

    def _start_segment(self, day, ms, carry):
        den = segment_den(self.pacing_concentration())
        if carry >= den:
            # The owed fraction is drug (its units do not hold the
            # concentration), so it carries over a concentration change as
            # it is: kept as a fraction of a step it would owe a stronger
            # drug's step for a weaker one's. A weaker drug owes more than a
            # step of its own for it: kept below one, it goes under by less
            # than the old step, never over.
            carry = den - 1
        end_ms = self.prescription.next_change_ms(day, ms) if self.prescription else MS_PER_DAY
        num = 0
        if self.delivering and self.prescription is not None and not self.basal_held:
            num = segment_num(self.prescription.rate_at(day, ms), self.steps_per_ml)
        if self.bolus_end is not None:
            end_day, bolus_end_ms = self.bolus_end
            if end_day == day and bolus_end_ms <= end_ms:
                end_ms = bolus_end_ms
            num += self.bolus_num
        self.seg_day, self.seg_start_ms = day, ms
        self.seg_num, self.seg_den, self.seg_carry = num, den, carry
        self.pacer.start(carry, num, den, end_ms - ms)
        self.window_steps = self.deliverable_steps(AUTH_WINDOW_MS)

    def _roll_segment(self):
        """The current segment is over: begin the next one at its end."""
        length = self.pacer.length_ms
        carry = self._carry_at(self.seg_day, self.seg_start_ms + length, self.pacer.count)
        day, ms = self.seg_day, self.seg_start_ms + length
        if ms >= MS_PER_DAY:
            day, ms = day + 1, ms - MS_PER_DAY
        if self.bolus_end is not None and (day, ms) >= self.bolus_end:
            carry += self.bolus_lump  # the part of the bolus shorter than a ms
            self.bolus_num = self.bolus_lump = 0
            self.bolus_end = None
            self._end_single_bolus(self.now_s())
        self._start_segment(day, ms, carry)

    def _queue_batch(self):
        line = self.line_drug
        if line is not None and line[2] and self.reservoir.used_steps >= line[1]:
            self.line_drug = None  # bridged: the new drug is at the tip, at its own rate from now
            self.record(self.now_s(), events.BRIDGE_END, self.reservoir.concentration_ng_per_ul)
            self.restart_schedule()
            self.save()
        rel = (self.day - self.seg_day) * MS_PER_DAY + self.ms - self.seg_start_ms
        while rel >= self.pacer.length_ms:
            self._roll_segment()
            rel = (self.day - self.seg_day) * MS_PER_DAY + self.ms - self.seg_start_ms
        until = rel + MAX_WAKE_GAP_MS
        if until > self.pacer.length_ms:
            until = self.pacer.length_ms
        capacity = BATCH
        remaining = self.reservoir.steps_left_max()
        if self.line_drug is not None and self.line_drug[2] and self.line_drug[1] < self.reservoir.used_steps + remaining:
            remaining = self.line_drug[1] - self.reservoir.used_steps  # the bridge ends on a step
        if remaining < capacity:
            capacity = remaining if remaining > 0 else 0
        n = self.pacer.fill(self.offsets, capacity, rel, until, EN_IDLE_MS)
        if n:
            if self.reservoir.used_steps + n > self.authorized_steps:
                if not self._authorize(n):
                    return min(self.ms + MAX_WAKE_GAP_MS, MS_PER_DAY)
            self.board.stepper.pulse(self.offsets, n, True)
            self.reservoir.use(n)
            left = self.authorized_steps - self.reservoir.used_steps
            if left < BATCH and left < self.window_steps:
                # extend now, after the hand-off, so the next batch does
                # not wait behind a flash write (its pulses would be late)
                self._authorize(0)
        if n == BATCH:
            wake_rel = rel + self.offsets[n - 1]
        elif n and n == capacity:  # the reservoir (or the bridge) runs out with this batch
            wake_rel = rel + self.offsets[n - 1]
        elif self.pacer.next_ms <= until:  # a gap of more than EN_IDLE_MS: the driver rests until then
            wake_rel = self.pacer.next_ms - EN_LEAD_MS
        else:
            wake_rel = until
        wake = self.seg_start_ms + wake_rel - (self.day - self.seg_day) * MS_PER_DAY
        return wake if wake > self.ms else self.ms + 1

    def _authorize(self, batch_steps):
        """Persist how far delivery may go before queueing past it."""
        window = self.deliverable_steps(AUTH_WINDOW_MS)
        self.authorized_steps = self.reservoir.used_steps + max(batch_steps, window)
        return self.save()  # when False, delivery is stopped (storage_fault)

    def deliverable_steps(self, window_ms):
        """The most steps the schedule can emit in the next `window_ms`: the
        step owed now, the rest of a bolus (never past its end) and the
        basal rate of this segment over the whole window. What a power cut
        in the window can cost the reservoir estimate (pump.state counts
        the authorised steps as used), so it must not be the bolus rate
        over ten minutes: a 36 s bolus would write off 1.7 mL."""
        basal_num = self.seg_num
        bolus = 0
        if self.bolus_end is not None:
            end_day, end_ms = self.bolus_end
            left_ms = (end_day - self.day) * MS_PER_DAY + end_ms - self.ms
            if left_ms > window_ms:
                left_ms = window_ms
            basal_num -= self.bolus_num
            bolus = self.bolus_num * left_ms + self.bolus_lump if left_ms > 0 else self.bolus_lump
        owed = self.seg_den + basal_num * window_ms + bolus  # + one whole step: the carry is below it
        return -(-owed // self.seg_den)

    def start_bolus(self, bolus_ng, duration_ms):
        """Deliver `bolus_ng` evenly over `duration_ms` on top of the basal
        rate (pump.delivery.bolus_plan; pump.commands checked that the
        mechanism's bolus rate allows it). With no program running (the
        screening trial), delivery starts with the bolus and ends with it.

        The bolus begins at the next wake-up (the shell advances right after
        a command), not at the command's clock reading: the command's flash
        writes come in between (tens of ms), and a schedule started before
        them would owe its first steps late, all at once. Its authorisation
        (the bolus and the window after it) is saved here, with the command,
        so no flash write stands between that wake-up's reading and its
        first pulses."""
        num, lump = bolus_plan(bolus_ng, self.steps_per_ml, duration_ms)
        self.bolus_next = (num, duration_ms, lump)
        den = segment_den(self.pacing_concentration())
        basal = self.deliverable_steps(AUTH_WINDOW_MS) if self.prescription is not None else 1
        self.authorized_steps = self.reservoir.used_steps + -(-(num * duration_ms + lump) // den) + basal
        self.save()

    def _begin_bolus(self, planned):
        """The bolus start_bolus planned begins now (see there)."""
        num, duration_ms, lump = planned
        if self.prescription is not None:
            self.restart_schedule()
        else:  # the screening trial: delivery starts with the bolus
            self.start_delivery()
        self.bolus_next = None
        self.bolus_num, self.bolus_lump = num, lump
        end_day, end_ms = divmod(self.ms + duration_ms, MS_PER_DAY)
        self.bolus_end = (self.day + end_day, end_ms)
        self._start_segment(self.day, self.ms, self.seg_carry)

    def cut_bolus(self, now_s):
        """Delivery stopped (or the pump restarted) with a bolus in flight
        or planned: the titration history keeps what did not go in, so it
        can be given later, and the log says both parts."""
        self.bolus_end = self.bolus_next = None
        self.bolus_num = self.bolus_lump = 0
        cut = self.history.cut_bolus(self.steady_s()) if self.history is not None else None
        if cut is not None:
            self.record(now_s, events.BOLUS_CUT, cut[0], cut[1])
        self._end_single_bolus(now_s)

    def _end_single_bolus(self, now_s):
        """A single bolus or a prime is over, or cut short: the basal it held
        comes back, or the pump goes into the stopped-pump mode it was
        programmed to (a cut one too: the clinician asked for a stop)."""
        self.basal_held = False
        why, self.stop_after_bolus = self.stop_after_bolus, None
        if why is not None:
            self.stop(STOP_COMMAND, now_s, why)

    # --------------------------------------------------------------- state
    def stop(self, reason, now_s, why=None):
        """Stop delivery for `reason` (a STOP_ bit; `why`, a person's words
        for it): logged, and alarmed by delivery_stopped as long as any
        reason holds."""
        if self.stop_mask & reason:
            return
        was_delivering = self.delivering
        self.stop_mask |= reason
        if was_delivering:
            self._keep_debt()
            self.cut_bolus(now_s)
        self.record(now_s, events.STOPPED, self.stop_mask)
        if why:
            self.record_note(now_s, why)
        self._update_stop_alarm(now_s)
        self.save()

    def back_off(self, steps):
        """Retract the plunger `steps` after an occlusion stop, so the
        trapped volume does not reach the patient as a bolus when the line
        clears. The retracted drug is not credited back to the reservoir
        estimate (it may be CSF)."""
        offsets, batch = self.offsets, len(self.offsets)
        for i in range(batch):
            offsets[i] = i * BACKOFF_GAP_MS
        while steps > 0:
            n = steps if steps < batch else batch
            self.board.stepper.pulse(offsets, n, False)
            steps -= n

    def resume(self, reasons, now_s):
        """Lift `reasons`; delivery restarts from now, without catching up."""
        lifted = self.stop_mask & reasons
        if not lifted:
            return
        self.stop_mask &= ~reasons
        self.record(now_s, events.RESUMED, lifted)
        if self.delivering:
            self.start_delivery()
        self._update_stop_alarm(now_s)
        self.save()

    def start_delivery(self):
        """Delivery begins (boot, resume, new prescription): a fresh segment
        at now, no step owed, no bolus, no pressure history; only a debt
        kept when delivery stopped is still paid (`_keep_debt`)."""
        self.board.stepper.cancel()
        self.starts += 1
        self.bolus_end = self.bolus_next = None
        self.bolus_num = self.bolus_lump = 0
        self.monitor.restart()
        debt, self.debt = self.debt, 0
        self._start_segment(self.day, self.ms, debt)

    def _keep_debt(self):
        """Delivery stops: take back what is queued, and keep what went out
        ahead of the ideal (a refill's steps of a stronger drug, pump.commands)
        for the restart to pay; a fraction owed is not caught up."""
        owed = self._take_back()
        self.debt = owed if owed < 0 else 0

    def set_prescription(self, prescription, now_s, decision):
        """Apply an accepted prescription (pump.commands checked it). The
        owed fraction of a step carries over: a change of rate is not a
        restart of delivery."""
        running = self.prescription is not None and self.delivering
        self.prescription = prescription
        lifted = self.stop_mask & STOP_STORAGE  # a program that saves replaces what flash lost
        self.stop_mask &= ~STOP_STORAGE
        self.refresh_limits()
        self.record(now_s, events.PRESCRIPTION, prescription.daily_ng(),
                        1 if decision["override_reason"] else 0)
        if decision["override_reason"]:
            self.record(now_s, events.OVERRIDE, len(decision["violations"]))
            self.record_note(now_s, decision["override_reason"])
        if decision["catheter_suspected"]:
            self.record(now_s, events.CATHETER_FLAG, prescription.daily_ng())
        if lifted:
            self.record(now_s, events.RESUMED, lifted)
        if self.delivering:
            if running:
                self.restart_schedule()
            else:  # the first program, or the end of a stop: nothing is owed from before
                self.start_delivery()
        self._update_stop_alarm(now_s)
        self.save()

    def command_arrived(self):
        """A command line came in (pump.commands): pulses go on while it is
        checked and its counter written, and a refill must know how many."""
        self.queued_at_command = self.board.stepper.pending()

    def steps_out_since_command(self):
        """Pulses that went out since the current command line came in (no
        pass queues any while a command runs)."""
        return self.queued_at_command - self.board.stepper.pending()

    def refill(self, volume_nl, concentration_ng_per_ul, now_s, gone_from_fill=0):
        """Record a refill (pump.commands confirmed it). A new concentration
        changes the steps per ng, not the prescription: the segment restarts
        in the new units, so the dose in mcg/day is unchanged. What was
        queued is taken back first: it belongs to the count being replaced.
        `gone_from_fill`: steps already out of the new fill (it went in
        before the command came), counted as used, in the same save. They
        were paced as steps of the old drug and carried the new: the
        difference comes off what is owed, and a stronger new drug leaves
        a debt (a negative carry) that delays the next steps by as much."""
        owed = self._take_back() if self.delivering else 0
        old_den = self.seg_den
        self.reservoir.refill(volume_nl, concentration_ng_per_ul)
        self.reservoir.use(gone_from_fill)
        self.refilled_s = self.steady_s()
        owed -= gone_from_fill * (segment_den(self.pacing_concentration()) - old_den)
        self.authorized_steps = 0
        self.refresh_limits()
        self.record(now_s, events.REFILL, self.reservoir.fill_nl, concentration_ng_per_ul)
        if self.stop_mask & STOP_EMPTY:
            self.resume(STOP_EMPTY, now_s)
        elif self.delivering:
            self._start_segment(self.day, self.ms, owed)
        self.save()

    def refresh_limits(self):
        daily_ng = self.prescription.daily_ng() if self.prescription else 0
        self.reservoir.set_low_threshold(self.settings["low_nl"], self.settings["low_days"], daily_ng)

    def acknowledge(self):
        """ACK by command: acknowledges alarms, and restarts delivery stopped
        by an alarm whose condition is gone (occlusion relieved, stall). A
        command arrives right after an advance, so the checks are current;
        the button's ACK is taken inside advance, around the checks."""
        now_s = self.now_s()
        self.alarms.acknowledge(now_s)
        self.resume(self.monitor.resumable(self, LIFTED_BY_ACK), now_s)

    def resume_by_command(self, now_s):
        """The signed `resume`: lifts what a clinician's resume may
        (pump.stops.LIFTED_BY_RESUME), an occlusion once its pressure is
        back to baseline (Monitor.resumable)."""
        self.resume(self.monitor.resumable(self, LIFTED_BY_RESUME), now_s)

    def _update_stop_alarm(self, now_s):
        """delivery_stopped holds while any stop reason does. A pump stopped
        only by an occlusion that has gone waits for nothing but an ACK: an
        acknowledged delivery_stopped sounds again to ask for it."""
        if self.prescription is not None and self.stop_mask:
            if self.stopped_since is None:
                self.stopped_since = (self.day, self.ms)
            self.alarms.raise_(kinds.DELIVERY_STOPPED, now_s)
            if self.stop_mask == STOP_OCCLUSION and not self.alarms.condition_present(kinds.OCCLUSION):
                self.alarms.resound(kinds.DELIVERY_STOPPED, now_s)
        else:
            self.stopped_since = None
            if self.alarms.active(kinds.DELIVERY_STOPPED):
                self.alarms.clear(kinds.DELIVERY_STOPPED, now_s)
        if not self.stop_mask & STOP_CRASHES and self.alarms.condition_present(kinds.CRASH_LOOP):
            self.alarms.clear(kinds.CRASH_LOOP, now_s)  # resumed: latched until acknowledged

    def _annunciate(self, now_s):
        buzzer, lamps = self.alarms.annunciation(now_s)
        self.board.buzzer.play(buzzer)
        self.board.lamps.show(lamps)

    def restore_alarms(self, record):
        """The alarms a state record kept (pump.state), reporting to this
        controller's event log as the ones it raises do."""
        self.alarms = AlarmManager.from_record(record, self._on_alarm_event)

    def _on_alarm_event(self, event, kind, now_s):
        self.record(now_s, ALARM_EVENT_CODES[event], kind)
        self.alarms_changed = True

    # ------------------------------------------- what commands set (checked there)
    def take_counter(self, counter):
        """The protocol's counter, kept in the state record so a recorded
        line is never accepted twice, even after a reset; False when flash
        did not take it."""
        self.counter = counter
        return self.save()

    def set_patient(self, patient, history):
        """The patient and their titration history, as pump.commands
        checked them against the running program."""
        self.patient, self.history = patient, history
        self.save()

    def apply_settings(self, settings, now_s):
        """The low-reservoir warning and the line's dead volume."""
        self.settings = settings
        self.refresh_limits()
        self.record(now_s, events.SETTINGS, settings["low_nl"], settings["low_days"])
        self.save()

    def save(self):
        """Write the state record; False (and a storage_fault alarm, delivery
        stopped) when flash refuses it. While delivering, the record carries
        a fresh authorisation (pump.state): a command's own write then
        covers the steps it starts, and none waits for another write."""
        if self.delivering:
            fresh = self.reservoir.used_steps + self.window_steps
            if fresh > self.authorized_steps:
                self.authorized_steps = fresh
        try:
            self.store.save(StateCodec.encode(self))
            return True
        except OSError:
            self.storage_failed(self.now_s())
            return False

    def record(self, now_s, code, a=0, b=0):
        """Append to the event log; a log that cannot be written is a
        storage fault like any other."""
        try:
            self.log.append(self.clock_s(now_s), code, a, b)
        except OSError:
            self.storage_failed(now_s)

    def startup_fault(self, kind):
        """A fault the board found while starting (pump.alarms kind; its
        words are in board.startup_faults, shown by `status`). A
        refused calibration or key file stops delivery like any storage
        fault: the dose depends on the calibration. The others alarm only;
        the per-wake checks clear them when the hardware recovers."""
        now_s = self.now_s()
        if kind == kinds.STORAGE_FAULT:
            self.storage_failed(now_s)
        else:
            self.alarms.raise_(kind, now_s)

    def record_note(self, now_s, text):
        """Words a person gave (a stop or override reason), after the entry
        they explain: pump.events packs them into NOTE entries."""
        for a, b in events.note_words(text):
            self.record(now_s, events.NOTE, a, b)

    def storage_failed(self, now_s):
        """Flash refused a write. Without it the pump cannot promise not to
        double-deliver after a reset, so it stops, loudly."""
        if self.stop_mask & STOP_STORAGE:
            return
        was_delivering = self.delivering
        self.stop_mask |= STOP_STORAGE  # first, so the alarm's own log write cannot recurse
        if was_delivering:
            self._keep_debt()
        else:
            self.reservoir.use(-self.board.stepper.cancel())
        self.cut_bolus(now_s)
        self.alarms.raise_(kinds.STORAGE_FAULT, now_s)
        self._update_stop_alarm(now_s)
