"""Alarm manager: priority, latching, acknowledge, audio pause, escalation and
the annunciation pattern, after IEC 60601-1-8.

Pure logic: time comes in as `now_s` (whole seconds, RTC epoch) and every
change goes out through `on_event(event, kind, now_s)` so the controller writes
the event log; nothing here reads a clock or drives a pin.

Vocabulary (IEC 60601-1-8 words, used the same way here):
- the *condition* is the fault itself (occluded line, empty reservoir); the
  detector that sees it calls `raise_`, and `clear` when it is gone;
- an *episode* is one alarm from raise to its end, recorded in `history`;
- a *latching* alarm keeps annunciating after its condition is gone until an
  operator acknowledges it, so a transient hazard (an occlusion that cleared
  by itself, a restart at 3 a.m.) is never missed;
- *acknowledge* (ACK button or command) turns the continuous sound of every
  annunciating alarm off (reminders and resounding aside, below); the lamp
  stays on while the condition holds; a latched alarm whose condition is gone
  ends there;
- *silence* is an audio pause of at most AUDIO_PAUSE_S: the sound comes back
  while the alarm still annunciates. A newly raised audible alarm, or an
  escalation, ends the pause at once so a new hazard is never muted by an
  earlier button press;
- *escalation*: a medium alarm left unacknowledged for its escalate_s while
  its condition holds is annunciated as high from then on (IEC 60601-1-8 lets
  a priority escalate; "prompt response" was not given);
- *reminder*: an acknowledged alarm whose condition still holds plays one
  burst of its own priority's tone every remind_s (an IEC 60601-1-8 alarm
  reminder signal), so an acknowledged hazard is never forgotten; a reminder
  due during an audio pause plays when the pause ends;
- *resounding*: an acknowledged alarm whose condition has held for resound_s
  since the acknowledgement loses it and sounds again, as high: the ACK of a
  stopped pump holds for an hour, not for ever.

Priorities (IEC 60601-1-8 Table 1: potential harm x onset of harm):
- high: occlusion, empty reservoir, motor stall, pressure-sensor fault,
  storage fault. Each means the patient is getting no drug, or an unknown
  amount (a blind occlusion detector, lost accounting), and the clearing of an
  occlusion can release a bolus: the operator must act at once.
- medium: low reservoir, low battery, clock fault, delivery stopped.
  delivery_stopped is medium, not high: baclofen withdrawal can kill, but its
  onset is delayed (hours to a day or two), which Table 1 places at medium;
  a stop is usually deliberate (the monograph's overdose response is to stop
  the pump by command), and a high alarm on every intended stop teaches staff
  to silence it. Left unacknowledged, it escalates to high; acknowledged, it
  reminds every 10 min and sounds again as high after an hour.
- missed_delivery: medium or high, chosen when it is raised from the dose a
  power outage cost (pump.boot); crash_loop: high, the firmware keeps
  crashing and delivery is stopped (pump.boot).
- low: temperature (the drug may have been stored out of 2-30 C, awareness
  only), restart (the firmware came back from a power cut or watchdog reset).

History keeps the last HISTORY_MAX episodes, never dropping one that is still
annunciating; the event log in flash is the full record.
"""
from pump.compat import const

# Priorities: a larger number is more urgent; NO_ALARM is "nothing active".
NO_ALARM = const(0)
LOW = const(1)
MEDIUM = const(2)
HIGH = const(3)
PRIORITY_NAMES = ("none", "low", "medium", "high")

# --- Alarm kinds: one row each ----------------------------------------------
#
# A row declares a kind's number, its name and its rules, and binds the
# number to the kind's constant; KIND_COUNT, KIND_NAMES and RULES are made
# from the rows, so a kind is added, or its rules read, in one place. The
# number is persisted (the event log stores a kind by number, the state
# record by name): a new kind takes the next number at the end, and no row
# is ever renumbered, renamed or removed; _kind refuses a row out of order.
#
# The rules of a kind (RULES[kind], columns PRIORITY, LATCHING, REMIND_S,
# ESCALATE_S, RESOUND_S; 0 s means never):
# - priority: as raised (missed_delivery may be raised higher, see raise_);
# - latching: annunciates after its condition is gone, until acknowledged.
#   Non-latching: low_reservoir and low_battery end by themselves when a
#   refill or a charge removes the condition, which the operator did on purpose;
# - remind_s: acknowledged while the condition holds, one burst every remind_s.
#   A stopped pump (delivery_stopped, 600 s) must be heard at least every
#   15 min; 10 min leaves room for the 1 min between wake-ups of a stopped
#   pump and a 2 min audio pause. The hazards that stop delivery (occlusion,
#   empty, stall, storage, crash loop) remind every 5 min, as high; a blind
#   occlusion detector every 15 min (delivery goes on); a low reservoir about
#   once an hour, as implanted pumps do (it is days ahead of empty);
# - escalate_s: a medium alarm unacknowledged this long goes to high;
# - resound_s: acknowledged and still holding this long after the ACK, the
#   alarm sounds again as high. Only delivery_stopped has it (1 h): every other
#   hazard that stops delivery raises delivery_stopped too, and a stopped
#   pump may be acknowledged, but not forgotten, for longer than an hour of
#   withdrawal.
PRIORITY = const(0)
LATCHING = const(1)
REMIND_S = const(2)
ESCALATE_S = const(3)
RESOUND_S = const(4)

_rows = []  # (name, rules) in kind order, until KIND_NAMES and RULES are made


def _kind(number, name, priority, latching, remind_s, escalate_s, resound_s):
    """Declare the next alarm kind; returns its number, for its constant."""
    if number != len(_rows):
        raise ValueError("alarm kind %s is numbered %d, the next is %d" % (name, number, len(_rows)))
    _rows.append((name, (priority, latching, remind_s, escalate_s, resound_s)))
    return number


# constant = _kind(number, name, priority, latching, remind_s, escalate_s, resound_s)
OCCLUSION             = _kind(0,  "occlusion",             HIGH,   True,  300,  0,   0)
LOW_RESERVOIR         = _kind(1,  "low_reservoir",         MEDIUM, False, 3600, 900, 0)
EMPTY_RESERVOIR       = _kind(2,  "empty_reservoir",       HIGH,   True,  300,  0,   0)
MOTOR_STALL           = _kind(3,  "motor_stall",           HIGH,   True,  300,  0,   0)
PRESSURE_SENSOR_FAULT = _kind(4,  "pressure_sensor_fault", HIGH,   True,  600,  0,   0)  # blind to a blocked line
STORAGE_FAULT         = _kind(5,  "storage_fault",         HIGH,   True,  300,  0,   0)
LOW_BATTERY           = _kind(6,  "low_battery",           MEDIUM, False, 900,  900, 0)
TEMPERATURE           = _kind(7,  "temperature",           LOW,    True,  0,    0,   0)
CLOCK_FAULT           = _kind(8,  "clock_fault",           MEDIUM, True,  3600, 900, 0)
DELIVERY_STOPPED      = _kind(9,  "delivery_stopped",      MEDIUM, True,  600,  900, 3600)
RESTART               = _kind(10, "restart",               LOW,    True,  0,    0,   0)
MISSED_DELIVERY       = _kind(11, "missed_delivery",       MEDIUM, True,  0,    0,   0)  # a past loss, cleared as raised
CRASH_LOOP            = _kind(12, "crash_loop",            HIGH,   True,  300,  0,   0)

KIND_COUNT = len(_rows)
KIND_NAMES = tuple(name for name, _rules in _rows)
RULES = tuple(rules for _name, rules in _rows)
del _rows, _kind

# Events passed to on_event(event, kind, now_s).
RAISED = const(1)
ACKNOWLEDGED = const(2)
CLEARED = const(3)
SILENCED = const(4)
ESCALATED = const(5)
RESOUNDED = const(6)
EVENT_NAMES = ("", "raised", "acknowledged", "cleared", "silenced", "escalated", "resounded")

AUDIO_PAUSE_S = const(120)
HISTORY_MAX = const(32)
REMINDER_HOLD_S = const(4)  # a reminder burst is handed out this long: the longest lasts 3.3 s

# --- Annunciation patterns: data for the buzzer and lamp drivers -----------
#
# annunciation(now_s) returns (tone_ms, lamp), both immutable tuples taken
# from the tables below, so a driver may compare them with `is` or `==` to see
# that the pattern changed.
#
# tone_ms: tuple of ints, durations in ms alternating tone ON, tone OFF,
#   ON, OFF, ..., starting with ON. An even count loops: the last OFF is the
#   interburst interval, and the driver plays the burst from the start and
#   loops it for as long as the same tuple is returned. An odd count (it ends
#   on a tone) plays once and falls silent: a reminder. On a different tuple
#   the driver restarts from the start of the new one. () means silent. Pitch
#   is the driver's choice (IEC 60601-1-8: fundamental 150-1000 Hz with
#   harmonics).
# lamp: (colour, on_ms, off_ms), colour one of LAMP_RED, LAMP_YELLOW,
#   LAMP_GREEN (the other two lamps off); off_ms == 0 means steady on.
#
# Timings, chosen inside the IEC 60601-1-8 (Tables 3 and 4) ranges as recalled
# here, not checked against the text of the standard:
# - high: 10 pulses of 150 ms (range 75-200 ms), spacing x = 100 ms
#   (50-125 ms) in the rhythm x x 2x+td x between pulses 1-5, 500 ms
#   (0.35-1.30 s) between pulses 5 and 6, pulses 6-10 as 1-5, then 3 s
#   (2.5-15 s) before the burst repeats;
# - medium: 3 pulses of 200 ms (125-250 ms) spaced 200 ms (125-250 ms),
#   then 6 s (2.5-30 s);
# - low: no sound (an auditory low-priority signal is optional);
# - reminders: one burst of the priority's tone, without the interburst
#   interval, played once: the listener hears which priority is waiting;
# - lamps: high red flashing 2 Hz at 50 % duty (1.4-2.8 Hz, 20-60 %), medium
#   yellow flashing 0.5 Hz at 50 % (0.4-0.8 Hz), low yellow steady, nothing
#   active green steady.
LAMP_RED = const(0)
LAMP_YELLOW = const(1)
LAMP_GREEN = const(2)

_HIGH_HALF_BURST_MS = (150, 100, 150, 100, 150, 350, 150, 100, 150)
TONE_HIGH_MS = _HIGH_HALF_BURST_MS + (500,) + _HIGH_HALF_BURST_MS + (3000,)
TONE_MEDIUM_MS = (200, 200, 200, 200, 200, 6000)
TONE_NONE_MS = ()
REMIND_HIGH_MS = TONE_HIGH_MS[:-1]
REMIND_MEDIUM_MS = TONE_MEDIUM_MS[:-1]

# Indexed by priority (NO_ALARM, LOW, MEDIUM, HIGH).
TONES_MS = (TONE_NONE_MS, TONE_NONE_MS, TONE_MEDIUM_MS, TONE_HIGH_MS)
REMINDERS_MS = (TONE_NONE_MS, TONE_NONE_MS, REMIND_MEDIUM_MS, REMIND_HIGH_MS)
LAMPS = ((LAMP_GREEN, 1000, 0), (LAMP_YELLOW, 1000, 0),
         (LAMP_YELLOW, 1000, 1000), (LAMP_RED, 250, 250))
# ANNUNCIATIONS[tone priority][lamp priority] (and REMINDER_ANNUNCIATIONS
# the same with the reminder burst), built once so annunciation() hands out
# shared tuples instead of making new ones: a wake-up allocates nothing.
ANNUNCIATIONS = tuple(tuple((tone, lamp) for lamp in LAMPS) for tone in TONES_MS)
REMINDER_ANNUNCIATIONS = tuple(tuple((tone, lamp) for lamp in LAMPS) for tone in REMINDERS_MS)


class Episode:
    """One alarm from raise to its end. Times are `now_s` values, None until
    they happen; `cleared_s` is when the condition went away, which for a
    latching alarm can come before `acknowledged_s`. `remind_due_s` and
    `resound_due_s` follow the acknowledgement (RULES); they are not saved:
    a restored episode reminds at once if its reminder is overdue."""

    def __init__(self, kind, priority, raised_s, acknowledged_s=None,
                 cleared_s=None, escalated_s=None):
        self.kind = kind
        self.priority = priority
        self.raised_s = raised_s
        self.cleared_s = cleared_s
        self.escalated_s = escalated_s
        self.acknowledge(acknowledged_s)

    def acknowledge(self, now_s):
        """Acknowledged at now_s (None: not, or no longer)."""
        self.acknowledged_s = now_s
        rule = RULES[self.kind]
        self.remind_due_s = None if now_s is None else now_s + rule[REMIND_S]
        self.resound_due_s = None if now_s is None else now_s + rule[RESOUND_S]

    def effective_priority(self):
        return HIGH if self.escalated_s is not None else self.priority

    def to_record(self):
        return [KIND_NAMES[self.kind], PRIORITY_NAMES[self.priority], self.raised_s,
                self.acknowledged_s, self.cleared_s, self.escalated_s]

    @classmethod
    def from_record(cls, record):
        kind = KIND_NAMES.index(record[0])  # ValueError on an unknown name
        return cls(kind, PRIORITY_NAMES.index(record[1]), record[2], record[3],
                   record[4], record[5])


def _ignore_event(event, kind, now_s):
    pass


def _due(due_s, interval_s, now_s):
    """Whether a reminder due at `due_s`, set `interval_s` ahead, has come. One
    further ahead than its interval can only come from a clock set back: it
    is due now, so that a clock change never silences an alarm."""
    return now_s >= due_s or due_s - now_s > interval_s


class AlarmManager:
    """Every alarm of the pump, one open episode per kind at most."""

    def __init__(self, on_event=None):
        self._on_event = on_event or _ignore_event
        # the annunciating episode per kind, or None (typed so for pyright)
        self._open = [None] * KIND_COUNT  # type: list[Episode | None]
        self._pause_until_s = None         # end of the audio pause, if one runs
        self._remind_until_s = None        # end of the reminder burst, if one plays
        self._remind_priority = NO_ALARM
        self.history = []

    # --- inputs -----------------------------------------------------------

    def raise_(self, kind, now_s, priority=None):
        """The condition of `kind` is present, at its RULES priority or at
        `priority` when given (never lower). Idempotent while it holds; a
        latched episode whose condition had gone is closed by a new one."""
        episode = self._open[kind]
        if episode is not None and episode.cleared_s is None:
            return
        if priority is None or priority < RULES[kind][PRIORITY]:
            priority = RULES[kind][PRIORITY]
        episode = Episode(kind, priority, now_s)
        self._open[kind] = episode
        self._remember(episode)
        if priority >= MEDIUM:
            self._pause_until_s = None
        self._on_event(RAISED, kind, now_s)

    def clear(self, kind, now_s):
        """The condition of `kind` is gone. A latching alarm not yet
        acknowledged keeps annunciating; anything else ends here."""
        episode = self._open[kind]
        if episode is None or episode.cleared_s is not None:
            return
        episode.cleared_s = now_s
        self._on_event(CLEARED, kind, now_s)
        if episode.acknowledged_s is not None or not RULES[kind][LATCHING]:
            self._open[kind] = None

    def acknowledge(self, now_s):
        """ACK: the sound of every annunciating alarm stops (reminders aside);
        latched alarms whose condition is gone end. Returns whether anything
        was acknowledged."""
        acknowledged = False
        for kind in range(KIND_COUNT):
            episode = self._open[kind]
            if episode is None or episode.acknowledged_s is not None:
                continue
            episode.acknowledge(now_s)
            acknowledged = True
            self._on_event(ACKNOWLEDGED, kind, now_s)
            if episode.cleared_s is not None:
                self._open[kind] = None
        return acknowledged

    def resound(self, kind, now_s):
        """The acknowledged alarm of `kind` sounds again, as high, until it is
        acknowledged anew: its condition needs a person again (it held too
        long, or it changed so that an ACK would now end it)."""
        episode = self._open[kind]
        if episode is None or episode.acknowledged_s is None or episode.cleared_s is not None:
            return
        episode.acknowledge(None)
        if episode.escalated_s is None:
            episode.escalated_s = now_s
        self._pause_until_s = None
        self._on_event(RESOUNDED, kind, now_s)

    def silence(self, now_s):
        """Audio pause for AUDIO_PAUSE_S from now (a second press restarts it).
        Returns False, and logs nothing, when nothing is sounding."""
        kind = self._loudest_kind()
        if kind is None:
            return False
        self._pause_until_s = now_s + AUDIO_PAUSE_S
        self._on_event(SILENCED, kind, now_s)
        return True

    def tick(self, now_s):
        """Ends an expired audio pause; escalates medium alarms left
        unacknowledged for their escalate_s; starts the reminders that are due
        and sounds again what was acknowledged too long ago (RULES)."""
        if self._pause_until_s is not None and not self.silenced(now_s):
            self._pause_until_s = None
        for episode in self._open:
            if episode is None or episode.cleared_s is not None:
                continue
            rule = RULES[episode.kind]
            if episode.acknowledged_s is None:
                if (rule[ESCALATE_S] and episode.priority == MEDIUM and episode.escalated_s is None
                        and now_s - episode.raised_s >= rule[ESCALATE_S]):
                    episode.escalated_s = now_s
                    self._pause_until_s = None
                    self._on_event(ESCALATED, episode.kind, now_s)
            else:
                self._follow_up(episode, rule, now_s)

    def _follow_up(self, episode, rule, now_s):
        """An acknowledged alarm whose condition holds: it sounds again once
        resound_s has passed since the ACK, and reminds every remind_s until then."""
        if rule[RESOUND_S]:
            if episode.resound_due_s - now_s > rule[RESOUND_S]:  # the clock went back: count from now
                episode.resound_due_s = now_s + rule[RESOUND_S]
            if now_s >= episode.resound_due_s:
                self.resound(episode.kind, now_s)
                return
        if rule[REMIND_S] and self._pause_until_s is None and _due(episode.remind_due_s, rule[REMIND_S], now_s):
            episode.remind_due_s = now_s + rule[REMIND_S]
            self._remind(episode.effective_priority(), now_s)

    # --- queries ----------------------------------------------------------

    def active(self, kind):
        """True while `kind` annunciates (its condition holds, or it is latched)."""
        return self._open[kind] is not None

    def condition_present(self, kind):
        """True while the condition of `kind` holds (raised and not cleared)."""
        episode = self._open[kind]
        return episode is not None and episode.cleared_s is None

    def highest(self):
        """The annunciating kind of highest (escalated) priority, None if none.
        Among equals the first in kind order wins, so the answer is stable."""
        return self._top_kind(False)

    def highest_priority(self):
        kind = self._top_kind(False)
        return NO_ALARM if kind is None else self._open[kind].effective_priority()

    def silenced(self, now_s):
        """An audio pause runs (one that ends further ahead than a pause lasts
        is left from before a clock was set back, and is over)."""
        until = self._pause_until_s
        return until is not None and now_s < until <= now_s + AUDIO_PAUSE_S

    def annunciation(self, now_s):
        """(tone_ms, lamp) to play now; see the pattern tables above. The lamp
        shows the highest annunciating alarm, acknowledged or not; the tone is
        that of the highest unacknowledged one unless the audio is paused,
        or a reminder burst when one is due and louder."""
        lamp_priority = self.highest_priority()
        tone_priority = NO_ALARM
        if not self.silenced(now_s):
            kind = self._top_kind(True)
            if kind is not None:
                tone_priority = self._open[kind].effective_priority()
        until = self._remind_until_s
        if (until is not None and now_s < until <= now_s + REMINDER_HOLD_S
                and self._remind_priority > tone_priority):
            return REMINDER_ANNUNCIATIONS[self._remind_priority][lamp_priority]
        return ANNUNCIATIONS[tone_priority][lamp_priority]

    # --- persistence ------------------------------------------------------

    def to_record(self):
        """JSON-able state: history, the kinds still annunciating, the pause."""
        return {"history": [episode.to_record() for episode in self.history],
                "open": [KIND_NAMES[e.kind] for e in self._open if e is not None],
                "pause_until_s": self._pause_until_s}

    @classmethod
    def from_record(cls, record, on_event=None):
        """Restore after a restart. A kind listed as open is the newest episode
        of that kind in history (open episodes are never dropped from it).
        The controller then clears the conditions it no longer sees; a
        latching alarm stays until acknowledged."""
        manager = cls(on_event)
        manager.history = [Episode.from_record(r) for r in record["history"]]
        for name in record["open"]:
            kind = KIND_NAMES.index(name)
            for episode in manager.history:
                if episode.kind == kind:
                    manager._open[kind] = episode
            if manager._open[kind] is None:
                raise ValueError("open alarm %s missing from history" % name)
        manager._pause_until_s = record["pause_until_s"]
        return manager

    # --- internals --------------------------------------------------------

    def _remind(self, priority, now_s):
        """Hand out a reminder burst of `priority` for REMINDER_HOLD_S (the
        driver plays it once); reminders due together make one burst."""
        if self._remind_until_s is None or now_s >= self._remind_until_s:
            self._remind_priority = NO_ALARM
        if priority > self._remind_priority:
            self._remind_priority = priority
        self._remind_until_s = now_s + REMINDER_HOLD_S

    def _remember(self, episode):
        history = self.history
        history.append(episode)
        if len(history) <= HISTORY_MAX:
            return
        for i in range(len(history)):
            if self._open[history[i].kind] is not history[i]:
                history.pop(i)
                return

    def _top_kind(self, unacknowledged_only):
        best_kind = None
        best = NO_ALARM
        for episode in self._open:
            if episode is None or (unacknowledged_only and episode.acknowledged_s is not None):
                continue
            priority = episode.effective_priority()
            if priority > best:
                best, best_kind = priority, episode.kind
        return best_kind

    def _loudest_kind(self):
        """The kind whose tone plays when not paused, None when silent anyway."""
        kind = self._top_kind(True)
        if kind is None or self._open[kind].effective_priority() < MEDIUM:
            return None
        return kind
