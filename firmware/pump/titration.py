"""Prescription changes and boluses, checked against what came before.

The monograph's titration rows depend on history: no increase in the first 24 h
after implant, at most one increase per 24 h and each within the titration
band, larger steps only at a refill visit, screening boluses 50/75/100 mcg at
least 24 h apart. The effect of a change is not seen at once (steady state in
1-2 days), so a faster escalation responds to an effect not yet observable.

Severity, decided here:
- timing rules (24 h after implant, 24 h between increases, 24 h between
  screening boluses, no bolus in the first 24 h after implant) and the bolus
  sequence are HARD: nothing clinical is gained by escalating before the
  previous step has shown its effect;
- size rules (percentages) are SOFT: the clinician may override with a
  reason. An overridden escalation above the band raises the catheter hint
  (druglib.decide): a dose that suddenly has to rise may not be arriving.
- a decrease outside the 10-20 % side-effect band is SOFT, both ways: under
  10 % is barely a change, over 20 % risks withdrawal (abrupt-stop row); the
  band applies to titration and refill changes. A drug-holiday taper has its
  own bound: no faster than the shortest taper the row allows (SOFT).

Change kinds: TITRATION (between visits), REFILL (at a refill visit), TAPER (a
drug-holiday step, decreases only), RESTART (after a taper, back up to at most
the recorded post-implant starting dose, as the drug-holiday row prescribes).
Bolus kinds: SCREENING (the trial before implant), CLINICIAN (after implant),
REMAINDER (what a cut-short bolus did not deliver, given later).

Every time here is on the controller's steady clock (Controller.steady_s):
seconds that a clock change cannot move, so the 24 h rules measure real
elapsed time.

Percentages are integer arithmetic on ng/day. The value reported is rounded
away from the limit (ceil above a maximum, floor below a minimum), so the
number shown always agrees with the verdict: 30.01 % shows as 31 %.

The history belongs to the patient (pump.commands keeps it across a re-sent
`patient` and resets it only for a new patient) and is what the controller
persists in flash: a handful of ints, to_record()/from_record() as JSON.
"""
from pump.druglib import (BACLOFEN_INTRATHECAL, HARD, SOFT, Violation, check_child, check_daily_dose,
                          mcg_text, on_days, rule_origin)
from pump.units import S_PER_DAY, WEEKDAY_NAMES

TITRATION = "titration"
REFILL = "refill"
TAPER = "taper"
RESTART = "restart"
KINDS = (TITRATION, REFILL, TAPER, RESTART)
CLINICIAN = "clinician"
SCREENING = "screening"
REMAINDER = "remainder"
BOLUS_KINDS = (CLINICIAN, SCREENING, REMAINDER)

_TITRATION = BACLOFEN_INTRATHECAL["titration_after_implant"]
_REFILL = BACLOFEN_INTRATHECAL["refill_visit_change"]
_SCREENING = BACLOFEN_INTRATHECAL["screening_boluses"]
_CLINICIAN = BACLOFEN_INTRATHECAL["clinician_bolus"]
_HOLIDAY = BACLOFEN_INTRATHECAL["drug_holiday"]
_ABOVE = ("daily_dose_above_hard_max", "daily_dose_above_usual", "daily_dose_limited_experience",
          "young_child_above_average", "origin_unknown")
_SCREENING_CONCENTRATION = BACLOFEN_INTRATHECAL["standard_concentrations"]["screening_ng_per_ul"]


class TitrationHistory:
    """What the titration and bolus rules need to know about the past.

    implant_s: when the catheter went in (None: screening trial, before it);
    initial_ng: the post-implant starting dose (the restart target; None
    until recorded); dose_ng: the daily dose now (None before the first
    program); increased_s: the last increase (None: none); last_kind: the
    kind of the last change; taper: [start_s, from_ng] of the drug-holiday
    taper under way; boluses: [[start_s, dose_ng, kind, undelivered_ng], ...]
    (the screening ones, at most three, and clinician ones of the last 24 h);
    running: [start_s, duration_s, ng] of the bolus delivery in flight.
    """

    def __init__(self, implant_s=None, initial_ng=None, dose_ng=None, increased_s=None,
                 last_kind=None, boluses=(), taper=None, running=None):
        self.implant_s = implant_s
        self.initial_ng = initial_ng
        self.dose_ng = dose_ng
        self.increased_s = increased_s
        self.last_kind = last_kind
        self.boluses = [list(b) for b in boluses]
        self.taper = taper
        self.running = running

    def record_implant(self, implant_s, initial_daily_ng):
        """The implant and the starting dose (not a change: nothing to titrate from)."""
        if initial_daily_ng <= 0:
            raise ValueError("initial daily dose must be positive")
        self.implant_s = implant_s
        self.initial_ng = initial_daily_ng
        self.dose_ng = initial_daily_ng
        self.increased_s = None
        self.last_kind = None

    @staticmethod
    def for_patient(patient, now_s, starting_ng=None):
        """The history of a patient the pump meets now: implanted
        days_since_implant days ago (None: not yet, a screening trial), with
        the post-implant starting dose when their record gives it."""
        days = patient["days_since_implant"]
        return TitrationHistory(None if days is None else now_s - days * S_PER_DAY, starting_ng)

    def record_first_program(self, daily_ng, now_s):
        """The first continuous dose this pump gives the patient. Within a
        day of the implant it is the post-implant starting dose; later it is
        only where titration goes on from (a restart then needs the starting
        dose from the patient's record)."""
        if self.initial_ng is None and now_s - self.implant_s < S_PER_DAY:
            self.initial_ng = daily_ng
        self.dose_ng = daily_ng
        self.last_kind = None

    def record_change(self, new_daily_ng, now_s, kind=TITRATION):
        """Call after a change was accepted (druglib.decide)."""
        if kind == TAPER and self.last_kind != TAPER:
            self.taper = [now_s, self.dose_ng]
        elif kind != TAPER:
            self.taper = None
        if new_daily_ng > self.dose_ng:
            self.increased_s = now_s
        self.dose_ng = new_daily_ng
        self.last_kind = kind

    def record_bolus(self, dose_ng, now_s, kind=SCREENING, duration_s=60):
        """Call after a bolus was accepted. A remainder goes back into the
        bolus it completes; clinician boluses older than the 24 h window
        are forgotten (the screening ones are kept: they are the sequence)."""
        self.running = [now_s, duration_s, dose_ng]
        if kind == REMAINDER:
            self.boluses[-1][3] -= dose_ng
            return
        window_s = _CLINICIAN["window_s"]
        self.boluses = [b for b in self.boluses if b[2] == SCREENING or now_s - b[0] < window_s]
        self.boluses.append([now_s, dose_ng, kind, 0])

    def cut_bolus(self, now_s):
        """Delivery stopped (a stop, an occlusion, a stall, a power cut) at
        `now_s`: the bolus in flight, if any, is cut there. Returns (ng that
        may have gone in, ng that did not), or None when no bolus was
        running. What went in is rounded up, so the remainder offered later
        never exceeds what the patient missed."""
        running, self.running = self.running, None
        if running is None:
            return None
        start_s, duration_s, dose_ng = running
        elapsed_s = now_s - start_s
        if elapsed_s >= duration_s:
            return None
        delivered = -(-dose_ng * max(elapsed_s, 0) // duration_s)
        self.boluses[-1][3] += dose_ng - delivered
        return delivered, dose_ng - delivered

    def undelivered_ng(self, now_s):
        """What the last bolus, if cut short within the last 24 h, did not
        deliver: the most a remainder may give."""
        last = self.boluses[-1] if self.boluses else None
        return last[3] if last is not None and now_s - last[0] < _CLINICIAN["window_s"] else 0

    def boluses_in_window_ng(self, now_s):
        """Bolus drug accepted in the last 24 h, for the daily dose rows: a
        bolus cut short counts in full, since what it did not give may
        still be given as its remainder (which finishes the same dose and
        is not counted again) and part of it may sit in a blocked line."""
        window_s = _CLINICIAN["window_s"]
        return sum(b[1] for b in self.boluses if now_s - b[0] < window_s)

    def to_record(self):
        return {"implant_s": self.implant_s, "initial_ng": self.initial_ng, "dose_ng": self.dose_ng,
                "increased_s": self.increased_s, "last_kind": self.last_kind,
                "boluses": [list(b) for b in self.boluses], "taper": self.taper, "running": self.running}

    @staticmethod
    def from_record(record):
        return TitrationHistory(record["implant_s"], record["initial_ng"], record["dose_ng"],
                                record["increased_s"], record["last_kind"], record["boluses"],
                                record.get("taper"), record.get("running"))  # absent in older records


def taper_day_ng(from_ng, floor_ng, days, day):
    """Drug-holiday row: the daily dose on `day` (1..days) of an even taper
    from `from_ng` to `floor_ng` over `days` days."""
    return floor_ng + (from_ng - floor_ng) * (days - day) // days


def _pct_ceil(part, whole):
    return -(-part * 100 // whole)


def _pct_floor(part, whole):
    return part * 100 // whole


def _increase_timing(history, now_s):
    found = []
    since_implant_s = now_s - history.implant_s
    least = _TITRATION["no_increase_after_implant_s"]
    if since_implant_s < least:
        found.append(Violation("increase_too_soon_after_implant", HARD, least, since_implant_s, "s",
                               "no increase in the first 24 h after implant (%d s since)" % since_implant_s))
    if history.increased_s is not None:
        since_s = now_s - history.increased_s
        least = _TITRATION["min_s_between_increases"]
        if since_s < least:
            found.append(Violation("increase_too_soon_after_increase", HARD, least, since_s, "s",
                                   "at most one increase per 24 h (%d s since the last)" % since_s))
    return found


def _titration_band(old_ng, new_ng, origin):
    low, high = _TITRATION["increase_pct"][origin]
    rise = new_ng - old_ng
    if rise * 100 > old_ng * high:
        asked = _pct_ceil(rise, old_ng)
        return [Violation("titration_increase_above_band", SOFT, high, asked, "%",
                          "increase of %d %% above the %d %% titration step (%s): sudden "
                          "escalation, check the catheter" % (asked, high, origin))]
    if rise * 100 < old_ng * low:
        asked = _pct_floor(rise, old_ng)
        return [Violation("titration_increase_below_band", SOFT, low, asked, "%",
                          "increase of %d %% below the %d %% titration step (%s)" % (asked, low, origin))]
    return []


def _refill_increase(old_ng, new_ng, origin):
    high = _REFILL["max_increase_pct"][origin]
    rise = new_ng - old_ng
    if rise * 100 <= old_ng * high:
        return []
    asked = _pct_ceil(rise, old_ng)
    return [Violation("refill_increase_above_limit", SOFT, high, asked, "%",
                      "increase of %d %% at a refill visit, above %d %% (%s): sudden escalation, "
                      "check the catheter" % (asked, high, origin))]


def _decrease_band(old_ng, new_ng):
    low, high = _REFILL["side_effect_decrease_pct"]
    drop = old_ng - new_ng
    if drop * 100 > old_ng * high:
        asked = _pct_ceil(drop, old_ng)
        return [Violation("decrease_above_band", SOFT, high, asked, "%",
                          "decrease of %d %%, above %d %%: risk of withdrawal" % (asked, high))]
    if drop * 100 < old_ng * low:
        asked = _pct_floor(drop, old_ng)
        return [Violation("decrease_below_band", SOFT, low, asked, "%",
                          "decrease of %d %%, below the %d %% side-effect step" % (asked, low))]
    return []


def _restart(history, new_ng):
    found = []
    if history.last_kind != TAPER:
        found.append(Violation("restart_without_taper", HARD, TAPER, history.last_kind, "kind",
                               "a restart follows a drug-holiday taper; use a titration change"))
    if history.initial_ng is None:
        found.append(Violation("restart_dose_not_recorded", HARD, None, new_ng, "ng/day",
                               "the post-implant starting dose is not recorded: give it with the "
                               "patient (starting_mcg_per_day)"))
    elif new_ng > history.initial_ng:
        found.append(Violation("restart_above_initial_dose", HARD, history.initial_ng, new_ng, "ng/day",
                               "restart at %s mcg/day, above the initial continuous dose %s mcg/day"
                               % (mcg_text(new_ng), mcg_text(history.initial_ng))))
    return found


def _taper_step(history, new_ng, now_s, origin):
    """A taper step no faster than the shortest taper the drug-holiday row
    allows (an even fall to the hard minimum over taper_min_days, one step
    a day): over it needs a reason (SOFT), as withdrawal is the hazard."""
    if origin is None:
        return []  # druglib.check_daily_dose refuses the unknown origin
    if history.last_kind == TAPER and history.taper is not None:
        start_s, from_ng = history.taper
    else:
        start_s, from_ng = now_s, history.dose_ng
    days = _HOLIDAY["taper_min_days"]
    day = 1 + (now_s - start_s) // S_PER_DAY
    floor_ng = BACLOFEN_INTRATHECAL["maintenance_" + origin]["hard_min_ng_per_day"]
    least_ng = taper_day_ng(from_ng, floor_ng, days, day if day < days else days)
    if new_ng >= least_ng:
        return []
    return [Violation("taper_step_too_fast", SOFT, least_ng, new_ng, "ng/day",
                      "taper to %s mcg/day on day %d: an even taper over %d days is at %s mcg/day "
                      "that day (risk of withdrawal)" % (mcg_text(new_ng), day, days, mcg_text(least_ng)))]


def check_change(history, patient, new_daily_ng, now_s, kind=TITRATION):
    """Every titration rule a change of daily dose to `new_daily_ng` breaks.

    Rows: titration after implant, change at a refill visit, drug holiday.
    A change that keeps the daily dose (a flex reshaping) breaks none; the
    first program of a patient is the starting point, not a change.
    Run with druglib.check_prescription on the new schedule; pass both
    lists to druglib.decide.
    """
    if history.implant_s is None:
        return [Violation("implant_not_recorded", HARD, None, None, "",
                          "no implant recorded: a continuous infusion follows the implant")]
    if kind not in KINDS:
        return [Violation("change_kind_unknown", HARD, KINDS, kind, "kind",
                          "change kind %r is not one of %s" % (kind, ", ".join(KINDS)))]
    old_ng = history.dose_ng
    if old_ng is None:
        return []
    origin = rule_origin(patient)
    if kind == RESTART and new_daily_ng <= old_ng:  # after a taper, whichever way it goes: else a way round the bands
        return _restart(history, new_daily_ng)
    if new_daily_ng > old_ng:
        found = _increase_timing(history, now_s)
        if kind == TAPER:
            found.append(Violation("taper_increase", HARD, old_ng, new_daily_ng, "ng/day",
                                   "a drug-holiday taper only decreases"))
        elif kind == RESTART:
            found += _restart(history, new_daily_ng)
        elif origin is None:
            pass  # druglib.check_daily_dose refuses the unknown origin
        elif kind == TITRATION:
            found += _titration_band(old_ng, new_daily_ng, origin)
        else:
            found += _refill_increase(old_ng, new_daily_ng, origin)
        return found
    if new_daily_ng < old_ng and (kind == TITRATION or kind == REFILL):
        return _decrease_band(old_ng, new_daily_ng)
    if new_daily_ng < old_ng and kind == TAPER:
        return _taper_step(history, new_daily_ng, now_s, origin)
    return []


def check_bolus(history, patient, dose_ng, now_s, kind, duration_s, basal_daily_ng, concentration_ng_per_ul):
    """Every rule a bolus breaks: its kind's rules, its duration (not under
    a minute: the screening row's "over not less than one minute"), and,
    after implant, the daily dose rows on the basal plus the boluses of the
    last 24 h. A REMAINDER only finishes the bolus that was cut short: no
    timing rule, as it is the same dose, counted once."""
    if kind == REMAINDER:
        return _remainder(history, dose_ng, now_s)
    row = _SCREENING if kind == SCREENING else _CLINICIAN
    found = [v for v in check_child(patient) if v.hard]  # under 4 years: not established
    if duration_s < row["min_duration_s"]:
        found.append(Violation("bolus_too_fast", HARD, row["min_duration_s"], duration_s, "s",
                               "a bolus goes in over at least %d s, not %d s" % (row["min_duration_s"], duration_s)))
    if kind == SCREENING:
        return found + _screening(history, dose_ng, now_s, concentration_ng_per_ul)
    return found + _clinician(history, patient, dose_ng, now_s, basal_daily_ng)


def _remainder(history, dose_ng, now_s):
    undelivered = history.undelivered_ng(now_s)
    if dose_ng <= undelivered:
        return []
    return [Violation("remainder_above_undelivered", HARD, undelivered, dose_ng, "ng",
                      "the last bolus left %s mcg undelivered (within 24 h); %s mcg asked"
                      % (mcg_text(undelivered), mcg_text(dose_ng)))]


def _screening(history, dose_ng, now_s, concentration_ng_per_ul):
    """Screening boluses row: before implant, at 50 mcg/mL, 50 then 75 then
    100 mcg, each at least 24 h after the last, and no fourth. A bolus above
    the next in sequence is refused (HARD); a smaller one (a very small
    patient) needs an override."""
    found = []
    if history.implant_s is not None:
        found.append(Violation("screening_after_implant", HARD, None, dose_ng, "ng",
                               "screening is the trial before implant; after it, give a clinician bolus"))
    if concentration_ng_per_ul != _SCREENING_CONCENTRATION:
        found.append(Violation("screening_concentration", HARD, _SCREENING_CONCENTRATION, concentration_ng_per_ul,
                               "mcg/mL", "a screening bolus is given at %d mcg/mL, not %d"
                               % (_SCREENING_CONCENTRATION, concentration_ng_per_ul)))
    screening = [b for b in history.boluses if b[2] == SCREENING]
    doses = _SCREENING["doses_ng"]
    given = len(screening)
    if given >= len(doses):
        found.append(Violation("screening_complete", HARD, len(doses), given + 1, "boluses",
                               "the screening sequence has %d boluses; this would be one more" % len(doses)))
    else:
        expected = doses[given]
        if dose_ng > expected:
            found.append(Violation("bolus_above_sequence", HARD, expected, dose_ng, "ng",
                                   "screening bolus %d is %s mcg; %s mcg asked"
                                   % (given + 1, mcg_text(expected), mcg_text(dose_ng))))
        elif dose_ng < expected:
            found.append(Violation("bolus_below_sequence", SOFT, expected, dose_ng, "ng",
                                   "screening bolus %d is %s mcg; %s mcg asked"
                                   % (given + 1, mcg_text(expected), mcg_text(dose_ng))))
    if given:
        since_s = now_s - screening[-1][0]
        least = _SCREENING["min_s_between"]
        if since_s < least:
            found.append(Violation("bolus_too_soon", HARD, least, since_s, "s",
                                   "screening boluses are at least 24 h apart (%d s since the last)"
                                   % since_s))
    return found


def _clinician(history, patient, dose_ng, now_s, basal_daily_ng):
    """Clinician bolus row (device policy, see druglib): after implant and
    not in its first 24 h; at most the largest screening dose; the basal
    plus the last 24 h of boluses within the daily dose rows; more bolus in
    24 h than a titration step of the basal needs a reason; at most four
    in 24 h."""
    if history.implant_s is None:
        return [Violation("bolus_before_implant", HARD, None, dose_ng, "ng",
                          "before implant only screening boluses are given")]
    found = []
    since_s = now_s - history.implant_s
    least = _CLINICIAN["no_bolus_after_implant_s"]
    if since_s < least:
        found.append(Violation("bolus_too_soon_after_implant", HARD, least, since_s, "s",
                               "no bolus in the first 24 h after implant (%d s since)" % since_s))
    if dose_ng > _CLINICIAN["max_ng"]:
        found.append(Violation("bolus_above_max", HARD, _CLINICIAN["max_ng"], dose_ng, "ng",
                               "a clinician bolus is at most %s mcg; %s mcg asked"
                               % (mcg_text(_CLINICIAN["max_ng"]), mcg_text(dose_ng))))
    window_s, most = _CLINICIAN["window_s"], _CLINICIAN["max_per_window"]
    given = len([b for b in history.boluses if b[2] == CLINICIAN and now_s - b[0] < window_s])
    if given >= most:
        found.append(Violation("boluses_per_day", HARD, most, given + 1, "boluses",
                               "at most %d clinician boluses in 24 h; this would be one more" % most))
    window_ng = history.boluses_in_window_ng(now_s) + dose_ng
    day_ng = basal_daily_ng + window_ng  # the upper rows only: a bolus cannot make a day too low
    found += [v for v in check_daily_dose(day_ng, patient) + check_child(patient, day_ng) if v.rule in _ABOVE]
    origin = rule_origin(patient)
    if origin is not None:
        step_pct = _TITRATION["increase_pct"][origin][1]
        if window_ng * 100 > basal_daily_ng * step_pct:
            found.append(Violation("boluses_above_titration_step", SOFT, step_pct, _pct_ceil(window_ng, basal_daily_ng),
                                   "%", "boluses of %s mcg in 24 h are %d %% of the %s mcg/day basal, above "
                                   "the %d %% titration step (%s)" % (mcg_text(window_ng),
                                   _pct_ceil(window_ng, basal_daily_ng), mcg_text(basal_daily_ng), step_pct, origin)))
    return found


# A weekly program changes each weekday's dose on its own; the week's total
# must not escalate (or fall) faster than a day may. For the total only the
# rules that guard against harm apply: the bands' lower edges ask whether a
# day's change is worth making, which the days answer.
_WEEK_TOTAL_RULES = ("titration_increase_above_band", "refill_increase_above_limit", "decrease_above_band")


def check_week_change(history, patient, old_week_ng, new_week_ng, now_s, kind=TITRATION):
    """check_change for a change where either program is weekly: each
    weekday against the same weekday before (old_week_ng, new_week_ng: seven
    doses, Monday first; a daily program's seven alike), then the weekly
    totals. A finding shared by several days is given once, naming them."""
    groups = []  # [violation, [day names]] by (rule, message)
    for i in range(7):
        day = TitrationHistory.from_record(history.to_record())
        day.dose_ng = old_week_ng[i]
        for v in check_change(day, patient, new_week_ng[i], now_s, kind):
            for group in groups:
                if group[0].rule == v.rule and group[0].message == v.message:
                    group[1].append(WEEKDAY_NAMES[i])
                    break
            else:
                groups.append([v, [WEEKDAY_NAMES[i]]])
    found = []
    for v, days in groups:
        found += on_days([v], ", ".join(days))
    week = TitrationHistory.from_record(history.to_record())
    week.dose_ng = sum(old_week_ng)
    totals = [v for v in check_change(week, patient, sum(new_week_ng), now_s, kind) if v.rule in _WEEK_TOTAL_RULES]
    return found + on_days(totals, "weekly total")


def record_week_change(history, old_week_ng, new_week_ng, now_s, kind=TITRATION):
    """record_change for a weekly change: the dose kept is the heaviest day's
    (Prescription.daily_ng), and a rise on any weekday is an increase."""
    history.record_change(max(new_week_ng), now_s, kind)
    if any(new > old for old, new in zip(old_week_ng, new_week_ng)):
        history.increased_s = now_s
