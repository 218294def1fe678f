"""Prescription changes and screening boluses, checked against what came before.

The monograph's titration rows depend on history: no increase in the first 24 h
after implant, at most one increase per 24 h and each within the titration
band, larger steps only at a refill visit, screening boluses 50/75/100 mcg at
least 24 h apart. The effect of a change is not seen at once (steady state in
1-2 days), so a faster escalation responds to an effect not yet observable.

Severity, decided here:
- timing rules (24 h after implant, 24 h between increases, 24 h between
  boluses) and the bolus sequence are HARD: nothing clinical is gained by
  escalating before the previous step has shown its effect;
- size rules (percentages) are SOFT: the clinician may override with a
  reason. An overridden escalation above the band raises the catheter hint
  (druglib.decide): a dose that suddenly has to rise may not be arriving.
- a decrease outside the 10-20 % side-effect band is SOFT, both ways: under
  10 % is barely a change, over 20 % risks withdrawal (abrupt-stop row); the
  band applies to titration and refill changes, not to a drug-holiday taper.

Change kinds: TITRATION (between visits), REFILL (at a refill visit), TAPER (a
drug-holiday step, decreases only), RESTART (after a taper, back up to at most
the initial continuous dose, as the drug-holiday row prescribes).

Percentages are integer arithmetic on ng/day. The value reported is rounded
away from the limit (ceil above a maximum, floor below a minimum), so the
number shown always agrees with the verdict: 30.01 % shows as 31 %.

The history is what the controller persists in flash: a handful of ints,
to_record()/from_record() as JSON-ready dicts.
"""
from pump.druglib import BACLOFEN_INTRATHECAL, HARD, SOFT, Violation, mcg_text, on_days, rule_origin
from pump.units import S_PER_DAY, WEEKDAY_NAMES

TITRATION = "titration"
REFILL = "refill"
TAPER = "taper"
RESTART = "restart"
KINDS = (TITRATION, REFILL, TAPER, RESTART)

_TITRATION = BACLOFEN_INTRATHECAL["titration_after_implant"]
_REFILL = BACLOFEN_INTRATHECAL["refill_visit_change"]
_SCREENING = BACLOFEN_INTRATHECAL["screening_boluses"]


class TitrationHistory:
    """What the titration rules need to know about the past, and no more.

    implant_s: when the catheter went in (None before: screening phase);
    initial_ng: the first continuous daily dose (restart target);
    dose_ng: the daily dose now; increased_s: the last increase (None: none);
    last_kind: the kind of the last change; boluses: [[time_s, dose_ng], ...]
    (at most three: the screening sequence refuses a fourth).
    """

    def __init__(self, implant_s=None, initial_ng=None, dose_ng=None, increased_s=None,
                 last_kind=None, boluses=()):
        self.implant_s = implant_s
        self.initial_ng = initial_ng
        self.dose_ng = dose_ng
        self.increased_s = increased_s
        self.last_kind = last_kind
        self.boluses = [[t, ng] for t, ng in boluses]

    def record_implant(self, implant_s, initial_daily_ng):
        """The implant and the first continuous dose (not a change: nothing to titrate from)."""
        if initial_daily_ng <= 0:
            raise ValueError("initial daily dose must be positive")
        self.implant_s = implant_s
        self.initial_ng = initial_daily_ng
        self.dose_ng = initial_daily_ng
        self.increased_s = None
        self.last_kind = None

    @staticmethod
    def from_patient(patient, now_s, daily_ng):
        """History for a patient implanted days ago whose past is not known
        (a scenario, a new controller): today's dose stands as the initial one."""
        history = TitrationHistory()
        history.record_implant(now_s - patient["days_since_implant"] * S_PER_DAY, daily_ng)
        return history

    def record_change(self, new_daily_ng, now_s, kind=TITRATION):
        """Call after a change was accepted (druglib.decide)."""
        if new_daily_ng > self.dose_ng:
            self.increased_s = now_s
        self.dose_ng = new_daily_ng
        self.last_kind = kind

    def record_bolus(self, dose_ng, now_s):
        """Call after a bolus was accepted."""
        self.boluses.append([now_s, dose_ng])

    def to_record(self):
        return {"implant_s": self.implant_s, "initial_ng": self.initial_ng, "dose_ng": self.dose_ng,
                "increased_s": self.increased_s, "last_kind": self.last_kind,
                "boluses": [list(b) for b in self.boluses]}

    @staticmethod
    def from_record(record):
        return TitrationHistory(record["implant_s"], record["initial_ng"], record["dose_ng"],
                                record["increased_s"], record["last_kind"], record["boluses"])


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
    if new_ng > history.initial_ng:
        found.append(Violation("restart_above_initial_dose", HARD, history.initial_ng, new_ng, "ng/day",
                               "restart at %s mcg/day, above the initial continuous dose %s mcg/day"
                               % (mcg_text(new_ng), mcg_text(history.initial_ng))))
    return found


def check_change(history, patient, new_daily_ng, now_s, kind=TITRATION):
    """Every titration rule a change of daily dose to `new_daily_ng` breaks.

    Rows: titration after implant, change at a refill visit, drug holiday.
    A change that keeps the daily dose (a flex reshaping) breaks none.
    Run with druglib.check_prescription on the new schedule; pass both
    lists to druglib.decide.
    """
    if history.implant_s is None:
        return [Violation("implant_not_recorded", HARD, None, None, "",
                          "no implant recorded: nothing to titrate from")]
    if kind not in KINDS:
        return [Violation("change_kind_unknown", HARD, KINDS, kind, "kind",
                          "change kind %r is not one of %s" % (kind, ", ".join(KINDS)))]
    old_ng = history.dose_ng
    origin = rule_origin(patient)
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
    return []


def check_bolus(history, dose_ng, now_s):
    """Screening boluses row: 50, then 75, then 100 mcg, each at least 24 h
    after the last, and no fourth. A bolus above the next in sequence is
    refused (HARD); a smaller one (a very small patient) needs an override."""
    doses = _SCREENING["doses_ng"]
    given = len(history.boluses)
    found = []
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
        since_s = now_s - history.boluses[-1][0]
        least = _SCREENING["min_s_between"]
        if since_s < least:
            found.append(Violation("bolus_too_soon", HARD, least, since_s, "s",
                                   "screening boluses are at least 24 h apart (%d s since the last)"
                                   % since_s))
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
