"""Drug library: the intrathecal-baclofen monograph's dose-error reduction rules, as data.

Every row of the monograph table in docs/DESIGN.md, section 5 (USP "Baclofen (Intrathecal-Systemic)",
Lioresal Intrathecal) is one entry of BACLOFEN_INTRATHECAL, with every limit in
the pump's integer units: drug in ng (1 mcg = 1000 ng), concentration in ng/uL
(numerically equal to mcg/mL), flow in nL/h, time in s or ms, temperature in
milli-degrees C. A pharmacist reviews the table, not the code: each row names
the one function that checks it ("checked_by") or the module that must enforce
it ("enforced_by"), and a test walks every row.

Checks return a list of Violation: every rule a program breaks, not the first,
so the clinician sees all there is to fix at once. A hard violation rejects the
program and no override lifts it; a soft one needs an override with a reason,
which the controller writes to the event log (decide() builds that record).
"""
from pump.compat import const
from pump.prescription import MAX_STEPS_PER_DAY
from pump.units import MS_PER_DAY, MS_PER_HOUR, NL_PER_ML, S_PER_DAY

HARD = "hard"
SOFT = "soft"

ACCEPTED = "accepted"
OVERRIDDEN = "overridden"
NEEDS_OVERRIDE = "needs_override"
REFUSED = "refused"

_NL_PER_UL = const(1000)
_S_PER_HOUR = const(3600)

DRUG_NAME = "baclofen, intrathecal"  # the drug this library is for (the refill card names it)

BACLOFEN_INTRATHECAL = {
    # Ampoules as supplied; anything else is a pharmacy dilution that the
    # clinician must declare, so a mistyped concentration is not taken for one.
    # 50 mcg/mL is the screening ampoule: for maintenance it is soft (a
    # reason logged), since it makes ten times the volume of 500 for a dose.
    "standard_concentrations": {
        "standard_ng_per_ul": (50, 500, 2000),
        "screening_ng_per_ul": 50,
        "dilution_min_ng_per_ul": 50,
        "dilution_max_ng_per_ul": 2000,
        "checked_by": "druglib.check_concentration",
    },
    # Maintenance daily dose. Hard: the range ever reported; usual: most
    # patients; above 1000 mcg/day (spinal) experience is limited.
    "maintenance_spinal": {
        "hard_min_ng_per_day": 12_000,
        "hard_max_ng_per_day": 2_003_000,
        "usual_min_ng_per_day": 300_000,
        "usual_max_ng_per_day": 800_000,
        "limited_experience_above_ng_per_day": 1_000_000,
        "checked_by": "druglib.check_daily_dose",
    },
    "maintenance_cerebral": {
        "hard_min_ng_per_day": 22_000,
        "hard_max_ng_per_day": 1_400_000,
        "usual_min_ng_per_day": 90_000,
        "usual_max_ng_per_day": 703_000,
        "limited_experience_above_ng_per_day": None,
        "checked_by": "druglib.check_daily_dose",
    },
    # Children 4 to 11 follow the cerebral rows whatever their origin; from
    # 12 the origin decides (the monograph: patients over 12 had the same
    # dosage requirements as adults; the usual dose is "adult and adolescent").
    "children": {
        "min_age_years": 4,
        "origin_rules_from_age_years": 12,
        "young_child_below_age_years": 12,
        "young_child_average_max_ng_per_day": 274_000,
        "checked_by": "druglib.check_child",
    },
    "titration_after_implant": {
        "no_increase_after_implant_s": S_PER_DAY,
        "min_s_between_increases": S_PER_DAY,
        "increase_pct": {"spinal": (10, 30), "cerebral": (5, 15)},
        "checked_by": "titration.check_change",
    },
    "refill_visit_change": {
        "max_increase_pct": {"spinal": 40, "cerebral": 20},
        "side_effect_decrease_pct": (10, 20),
        "checked_by": "titration.check_change",
    },
    "flow_ceiling": {
        "max_nl_per_h": 1_000_000,
        "checked_by": "druglib.check_flow_ceiling",
    },
    # See check_flow_floor for why this is a motor step, not 0.1 mL/h.
    "flow_floor": {
        "min_motor_steps_per_h": 1,
        "checked_by": "druglib.check_flow_floor",
    },
    # Higher night doses are allowed (no rule compares steps); an effect
    # wanted at T needs the step to start at T - 2 h. The step count bounds
    # the flash record and the command size, not the pharmacology.
    "flex_schedules": {
        "effect_lead_ms": 2 * MS_PER_HOUR,
        "max_steps": MAX_STEPS_PER_DAY,  # per day
        "checked_by": "druglib.check_flex_steps",
    },
    # Screening (the trial before implant): at the screening concentration,
    # over not less than one minute, 50 then 75 then 100 mcg, 24 h apart.
    "screening_boluses": {
        "doses_ng": (50_000, 75_000, 100_000),
        "min_s_between": S_PER_DAY,
        "min_duration_s": 60,
        "checked_by": "titration.check_bolus",
    },
    # A clinician bolus after implant (the monograph names no figure; device
    # policy): none in the first 24 h after implant, as no increase is; at
    # most the largest screening dose at once; counted with the basal and
    # the other boluses of the last 24 h in the daily dose rows; and more
    # bolus in 24 h than one titration step of the basal (the titration
    # band's top) needs a reason, as a larger increase would. At most four
    # in 24 h: a bolus is an occasional act, and each is kept (state record).
    "clinician_bolus": {
        "no_bolus_after_implant_s": S_PER_DAY,
        "max_ng": 100_000,
        "window_s": S_PER_DAY,
        "max_per_window": 4,
        "min_duration_s": 60,
        "checked_by": "titration.check_bolus",
    },
    "starting_dose": {
        "screening_dose_factor": 2,
        "long_effect_factor": 1,
        "long_effect_over_s": 8 * _S_PER_HOUR,
        "checked_by": "clinical.starting_daily_ng",
    },
    "drug_holiday": {
        "taper_min_days": 14,
        "taper_max_days": 28,
        "checked_by": "clinical.holiday_taper",
    },
    # Withdrawal is the hazard. The minimum warning lead is a device policy
    # (the monograph gives no figure): a weekend plus a day to book a refill.
    "abrupt_stop": {
        "low_reservoir_warning_min_s": 3 * S_PER_DAY,
        "checked_by": "druglib.check_low_reservoir_warning",
        "enforced_by": "controller: a stop is never silent (alarm delivery_stopped)",
    },
    "overdose_response": {
        "stop_alarm": "delivery_stopped",
        "enforced_by": "controller: stop at once by command, logged and alarmed",
    },
    "catheter_hint": {
        "flag": "catheter_suspected",
        "escalation_rules": ("titration_increase_above_band", "refill_increase_above_limit"),
        "checked_by": "druglib.decide",
    },
    "storage": {
        "min_mdeg_c": 2_000,
        "max_mdeg_c": 30_000,
        "checked_by": "druglib.check_storage_temperature",
    },
    "pharmacokinetics": {
        "csf_clearance_ul_per_h": 30_000,
        "half_life_min": 90,
        "steady_state_days": (1, 2),
        "checked_by": "clinical.csf_curve",
    },
}

_LIB = BACLOFEN_INTRATHECAL


class Violation:
    """One broken rule: its name, HARD or SOFT, the limit and the value asked
    (both in `unit`), and a sentence for the clinician."""

    def __init__(self, rule, severity, limit, value, unit, message):
        self.rule, self.severity, self.hard = rule, severity, severity == HARD
        self.limit, self.value, self.unit, self.message = limit, value, unit, message

    def to_record(self):
        """Plain data for the event log and the command reply (JSON-ready)."""
        limit = list(self.limit) if isinstance(self.limit, tuple) else self.limit
        return {"rule": self.rule, "severity": self.severity, "limit": limit,
                "value": self.value, "unit": self.unit, "message": self.message}

    def __repr__(self):
        return "Violation(%s %s: %s)" % (self.severity, self.rule, self.message)


def mcg_text(ng):
    """ng as mcg for messages: 2004000 -> '2004', 274001 -> '274.001'."""
    text = "%d.%03d" % (abs(ng) // 1000, abs(ng) % 1000) if ng % 1000 else "%d" % (abs(ng) // 1000)
    return "-" + text if ng < 0 else text


def _ceil_div(a, b):
    return -(-a // b)


def rule_origin(patient):
    """'spinal' or 'cerebral': whose rows apply. Children under 12 follow the
    cerebral rows (children row); None when the origin is unknown."""
    if patient["age_years"] < _LIB["children"]["origin_rules_from_age_years"]:
        return "cerebral"
    origin = patient["origin"]
    return origin if origin in ("spinal", "cerebral") else None


def check_concentration(concentration_ng_per_ul, dilution_declared=False):
    """Standard concentrations row. An undeclared odd concentration is more
    likely a typing error than a dilution, and a 10x error is an overdose."""
    row = _LIB["standard_concentrations"]
    c = concentration_ng_per_ul
    if c in row["standard_ng_per_ul"]:
        return []
    if not dilution_declared:
        return [Violation("concentration_not_standard", HARD, row["standard_ng_per_ul"], c, "mcg/mL",
                          "%d mcg/mL is not a standard concentration (50, 500, 2000): "
                          "declare the dilution" % c)]
    lo, hi = row["dilution_min_ng_per_ul"], row["dilution_max_ng_per_ul"]
    if lo <= c <= hi:
        return []
    rule, limit = ("dilution_below_min", lo) if c < lo else ("dilution_above_max", hi)
    return [Violation(rule, HARD, limit, c, "mcg/mL",
                      "dilution %d mcg/mL is outside %d..%d mcg/mL" % (c, lo, hi))]


def check_daily_dose(daily_ng, patient):
    """Maintenance rows (spinal, cerebral): hard range, usual range, limited
    experience. A dose can break several at once and all are reported."""
    origin = rule_origin(patient)
    if origin is None:
        return [Violation("origin_unknown", HARD, ("spinal", "cerebral"), patient["origin"], "",
                          "spasticity origin %r is not spinal or cerebral" % (patient["origin"],))]
    row = _LIB["maintenance_" + origin]
    found = []

    def add(rule, severity, limit_ng, text):
        found.append(Violation(rule, severity, limit_ng, daily_ng, "ng/day",
                               "daily dose %s mcg/day is %s %s mcg/day (%s rules)"
                               % (mcg_text(daily_ng), text, mcg_text(limit_ng), origin)))

    if daily_ng < row["hard_min_ng_per_day"]:
        add("daily_dose_below_hard_min", HARD, row["hard_min_ng_per_day"], "below the minimum")
    elif daily_ng > row["hard_max_ng_per_day"]:
        add("daily_dose_above_hard_max", HARD, row["hard_max_ng_per_day"], "above the maximum")
    if daily_ng < row["usual_min_ng_per_day"]:
        add("daily_dose_below_usual", SOFT, row["usual_min_ng_per_day"], "below the usual")
    elif daily_ng > row["usual_max_ng_per_day"]:
        add("daily_dose_above_usual", SOFT, row["usual_max_ng_per_day"], "above the usual")
    limited = row["limited_experience_above_ng_per_day"]
    if limited is not None and daily_ng > limited:
        add("daily_dose_limited_experience", SOFT, limited, "where experience is limited, above")
    return found


def check_child(patient, daily_ng=None):
    """Children row: under 4 years not established (reject); under 12 the
    average daily dose reported is 274 mcg, above it warn. daily_ng None
    checks the age alone (a schedule too malformed to have a dose)."""
    row = _LIB["children"]
    age = patient["age_years"]
    found = []
    if age < row["min_age_years"]:
        found.append(Violation("age_under_min", HARD, row["min_age_years"], age, "years",
                               "intrathecal baclofen is not established under %d years"
                               % row["min_age_years"]))
    limit = row["young_child_average_max_ng_per_day"]
    if daily_ng is not None and age < row["young_child_below_age_years"] and daily_ng > limit:
        found.append(Violation("young_child_above_average", SOFT, limit, daily_ng, "ng/day",
                               "daily dose %s mcg/day is above the %s mcg/day average under %d years"
                               % (mcg_text(daily_ng), mcg_text(limit), row["young_child_below_age_years"])))
    return found


def check_flow_ceiling(max_rate_ng_per_h, concentration_ng_per_ul):
    """Flow ceiling row: 1 mL/h. A rate needing more volume than that is too
    dilute a drug for the dose, so the cure is a higher concentration."""
    max_nl = _LIB["flow_ceiling"]["max_nl_per_h"]
    rate_x_ul = max_rate_ng_per_h * _NL_PER_UL
    if rate_x_ul <= max_nl * concentration_ng_per_ul:
        return []
    asked_nl = _ceil_div(rate_x_ul, concentration_ng_per_ul)
    return [Violation("flow_above_ceiling", HARD, max_nl, asked_nl, "nL/h",
                      "%s mcg/h at %d mcg/mL needs %d nL/h, above 1 mL/h: use a higher concentration"
                      % (mcg_text(max_rate_ng_per_h), concentration_ng_per_ul, asked_nl))]


def check_flow_floor(min_rate_ng_per_h, concentration_ng_per_ul, steps_per_ml):
    """Flow floor row: at least one motor step per hour in every step.

    The floor is the mechanism's resolution, not the monograph's 0.1 mL/h:
    the monograph's own typical doses run at 0.025-0.07 mL/h (500 mcg/mL),
    so 0.1 mL/h would reject ordinary prescriptions. What the mechanism
    cannot do is a rate finer than its quantum: one step is 1/steps_per_ml mL
    (78.5 nL at the nominal 12 732 steps/mL). Below one step per hour, a rate
    written per hour is delivered as isolated pulses further apart than the
    unit it is written in, and a flex step of an hour may deliver nothing.
    The smallest dose in the table (12 mcg/day at 2000 mcg/mL) still makes
    about 3 steps per hour, so this floor only catches mistakes. The fix for
    a rate under it is a lower concentration (a declared dilution).
    """
    steps_h = _LIB["flow_floor"]["min_motor_steps_per_h"]
    # rate_nl_per_h = rate * 1000 / c must be >= steps_h * 1e6 / steps_per_ml
    if min_rate_ng_per_h * _NL_PER_UL * steps_per_ml >= steps_h * NL_PER_ML * concentration_ng_per_ul:
        return []
    floor_nl = _ceil_div(steps_h * NL_PER_ML, steps_per_ml)
    asked_nl = min_rate_ng_per_h * _NL_PER_UL // concentration_ng_per_ul
    return [Violation("flow_below_floor", HARD, floor_nl, asked_nl, "nL/h",
                      "%s mcg/h at %d mcg/mL is %d nL/h, under one motor step (%d nL) per hour: "
                      "use a lower concentration"
                      % (mcg_text(min_rate_ng_per_h), concentration_ng_per_ul, asked_nl, floor_nl))]


def on_days(violations, label):
    """The violations with the days they concern before the message
    ("sat, sun: daily dose ..."); label None (a daily program) leaves them."""
    if label is None:
        return violations
    return [Violation(v.rule, v.severity, v.limit, v.value, v.unit, "%s: %s" % (label, v.message))
            for v in violations]


def _day_groups(prescription, values):
    """[(label, value)] with the days of `prescription.days` that share a
    value together: one line per distinct value, the label naming its days
    (None for a daily program, which has one day)."""
    if not prescription.weekly:
        return [(None, values[0])]
    names = prescription.day_names()
    groups = []
    for value in values:
        if value not in [v for _label, v in groups]:
            label = ", ".join(names[i] for i in range(len(values)) if values[i] == value)
            groups.append((label, value))
    return groups


def check_schedule(prescription):
    """The schedule's form: seven days for a weekly program, and in each day
    steps exist, start within the day, once each, at a positive rate. A stop
    is a command that alarms (abrupt-stop row), never a zero-rate step. When
    this finds anything the dose checks are skipped: a malformed schedule has
    no meaningful dose."""
    days = prescription.days
    if prescription.weekly and len(days) != 7:
        return [Violation("week_not_seven_days", HARD, 7, len(days), "days",
                          "a weekly schedule has seven days, Monday to Sunday; %d given" % len(days))]
    found = []
    names = prescription.day_names()
    for i in range(len(days)):
        found += on_days(_check_day_form(days[i]), names[i] if prescription.weekly else None)
    return found


def _check_day_form(steps):
    if not steps:
        return [Violation("schedule_empty", HARD, 1, 0, "steps", "the schedule has no steps")]
    found = []
    previous = None
    for start_ms, rate in steps:
        if start_ms < 0 or start_ms >= MS_PER_DAY:
            found.append(Violation("step_start_outside_day", HARD, MS_PER_DAY - 1, start_ms, "ms",
                                   "a step starts at %d ms, outside 0..%d" % (start_ms, MS_PER_DAY - 1)))
        elif start_ms == previous:
            found.append(Violation("step_duplicate_start", HARD, None, start_ms, "ms",
                                   "two steps start at %d ms of day" % start_ms))
        if rate <= 0:
            found.append(Violation("step_rate_not_positive", HARD, 1, rate, "ng/h",
                                   "a step's rate is %d ng/h: rates must be positive "
                                   "(stopping is a separate, alarmed command)" % rate))
        previous = start_ms
    return found


def check_flex_steps(prescription):
    """Flex row (for a well-formed schedule), each day: a bounded number of
    steps, and a daily dose that is a whole ng, so the dose the pump accounts
    is exactly the dose prescribed (Prescription.day_ng_x_ms)."""
    found = []
    names = prescription.day_names()
    for i in range(len(prescription.days)):
        found += on_days(_check_day_steps(prescription, i), names[i] if prescription.weekly else None)
    return found


def _check_day_steps(prescription, index):
    row = _LIB["flex_schedules"]
    found = []
    count = len(prescription.days[index])
    if count > row["max_steps"]:
        found.append(Violation("flex_too_many_steps", HARD, row["max_steps"], count, "steps",
                               "%d steps, at most %d" % (count, row["max_steps"])))
    dose_x_ms = prescription.day_ng_x_ms(index)
    if dose_x_ms % MS_PER_HOUR:
        daily_ng = dose_x_ms // MS_PER_HOUR
        found.append(Violation("daily_dose_not_whole_ng", HARD, None, daily_ng, "ng/day",
                               "the daily dose comes to %d ng and a fraction: move a step start "
                               "or change a rate so it is a whole ng" % daily_ng))
    return found


def check_storage_temperature(temp_mdeg_c):
    """Storage row: the drug is kept below 30 C and must not freeze. For the
    board temperature reading; a violation is a warning (SOFT), the alarm
    manager raises the `temperature` alarm for it."""
    lo, hi = _LIB["storage"]["min_mdeg_c"], _LIB["storage"]["max_mdeg_c"]
    if lo <= temp_mdeg_c <= hi:
        return []
    rule, limit = ("storage_too_cold", lo) if temp_mdeg_c < lo else ("storage_too_hot", hi)
    return [Violation(rule, SOFT, limit, temp_mdeg_c, "mdeg C",
                      "board at %d mdeg C: the drug is kept at %d..%d mdeg C" % (temp_mdeg_c, lo, hi))]


def check_low_reservoir_warning(lead_s):
    """Abrupt-stop row: the low-reservoir warning setting must leave time for
    a refill visit, or the pump runs dry and the patient withdraws."""
    least = _LIB["abrupt_stop"]["low_reservoir_warning_min_s"]
    if lead_s >= least:
        return []
    return [Violation("low_reservoir_warning_too_late", HARD, least, lead_s, "s",
                      "warning %d s before empty leaves no time for a refill visit (at least %d s)"
                      % (lead_s, least))]


def check_day_doses(prescription, patient):
    """The maintenance and children rows for each day's dose (midnight to
    midnight; a weekly program's days each on their own), one finding per
    distinct dose naming its days. The age rules are the patient's, once."""
    found = check_child(patient)
    age_rules = [v.rule for v in found]
    for label, daily_ng in _day_groups(prescription, prescription.day_doses_ng()):
        per_day = check_daily_dose(daily_ng, patient)
        per_day += [v for v in check_child(patient, daily_ng) if v.rule not in age_rules]
        found += on_days(per_day, label)
    return found


def check_maintenance_concentration(concentration_ng_per_ul):
    """Standard concentrations row: the screening ampoule (50 mcg/mL) for a
    maintenance program needs a reason (SOFT)."""
    screening = _LIB["standard_concentrations"]["screening_ng_per_ul"]
    if concentration_ng_per_ul != screening:
        return []
    return [Violation("screening_concentration_for_maintenance", SOFT, screening, concentration_ng_per_ul,
                      "mcg/mL", "%d mcg/mL is the screening concentration: for maintenance use 500 or 2000, "
                      "or give the reason" % screening)]


def check_drug_for_program(prescription, concentration_ng_per_ul, steps_per_ml, dilution_declared=False):
    """The rows that depend on the drug in the reservoir, for a well-formed
    program: concentration, maintenance concentration, flow ceiling and
    floor. A refill that changes the concentration meets them as a new
    program would."""
    found = check_concentration(concentration_ng_per_ul, dilution_declared)
    if concentration_ng_per_ul > 0:
        found += check_maintenance_concentration(concentration_ng_per_ul)
        found += check_flow_ceiling(prescription.max_rate_ng_per_h(), concentration_ng_per_ul)
        found += check_flow_floor(prescription.min_rate_ng_per_h(), concentration_ng_per_ul, steps_per_ml)
    return found


def check_prescription(prescription, patient, concentration_ng_per_ul, steps_per_ml,
                       dilution_declared=False):
    """Every library rule a program breaks, hard and soft.

    prescription: a Prescription; patient: {"origin", "age_years",
    "days_since_implant"} (the last dates the implant for
    titration.TitrationHistory.for_patient); concentration in ng/uL (=
    mcg/mL, whole); steps_per_ml: the board's calibration. The change from
    the previous program is checked by titration.check_change.
    """
    malformed = check_schedule(prescription)
    if malformed:
        return check_concentration(concentration_ng_per_ul, dilution_declared) + check_child(patient) + malformed
    found = check_drug_for_program(prescription, concentration_ng_per_ul, steps_per_ml, dilution_declared)
    found += check_day_doses(prescription, patient)
    found += check_flex_steps(prescription)
    return found


def decide(violations, override_reason=None):
    """Whether a program (or change, or bolus) may be applied, as a record the
    controller writes to the event log and returns to the programmer.

    Hard violations refuse, whatever the reason given. Soft ones need a
    non-blank override reason. An override of a sudden escalation raises the
    catheter hint: a dose that suddenly has to rise may not be reaching the
    patient (catheter_hint row); the controller flags and logs it.
    """
    reason = override_reason.strip() if isinstance(override_reason, str) else ""
    hard = [v for v in violations if v.hard]
    soft = [v for v in violations if not v.hard]
    if hard:
        verdict = REFUSED
    elif not soft:
        verdict = ACCEPTED
    elif reason:
        verdict = OVERRIDDEN
    else:
        verdict = NEEDS_OVERRIDE
    escalations = _LIB["catheter_hint"]["escalation_rules"]
    catheter = verdict == OVERRIDDEN and any(v.rule in escalations for v in soft)
    return {"verdict": verdict, "accepted": verdict == ACCEPTED or verdict == OVERRIDDEN,
            "override_reason": reason if verdict == OVERRIDDEN else None,
            "catheter_suspected": catheter, "violations": [v.to_record() for v in violations]}
