"""The pump's safety promises, checked against the simulator's physical truth.

A checker shares no code with what it checks: the limits below are a small
table of their own, written from the monograph's rows, and every judgement
is made from what the simulated world shows (the plunger's travel to the
patient, the reservoir's true contents, the lamp and buzzer patterns the
firmware drove, the run's true elapsed time) and from what the clinician
sent and the pump accepted, never from the controller's own accounting.

`CheckedRun` is the simulator's scenario run (hw/sim/runner.py) with a
`Watcher` on its hooks: after every wake-up, every scenario event and every
command reply the invariants are checked, and the first one broken raises
`Broken`. So a scenario file replays through the same checks as the
generated sequence that produced it (test_sequences.py, test_sequence_walk.py).

Invariants (one name each, used in reports and docs/notes):
- `silent_stop`: whenever the powered pump has put less than half of the
  prescribed dose into the patient over the last N minutes (N = the larger
  of 10 min and two step intervals at the prescription's lowest rate), a
  medium or high alarm shows (a flashing lamp: IEC 60601-1-8 gives low
  priority a steady one) and the buzzer sounded within the last 15 min.
  Time without power is exempt (windows are measured in powered time), and
  a window starts afresh when a person ends a stop (an ACK, resume, a new
  program or a refill accepted): a pump that then still does not deliver is
  judged N minutes later, one that does is not held to the stop it ended. So
  is a blocked line the pump is still pushing into, until it has pushed the
  occlusion detector's stated bound into it (57 steps, 4.5 uL: no pressure
  detector can see a blockage before a volume has been pushed against it,
  and at 3 steps/h that takes hours), counted afresh after each back-off
  (the pump saw the block; resumed, its detector starts again) and each
  power cut (it boots with no pressure history); a pump that
  has stopped pushing, or has pushed more than that, is judged as written.
- `hard_limit`: no accepted program, patient, refill, bolus or setting puts
  the prescription in force outside the daily-dose range of the patient's
  origin and age, the flow ceiling or floor at the concentration in the
  reservoir, or the reservoir outside the standard or declared-dilution
  concentrations; the low-reservoir warning leaves at least 3 days; a
  restart follows a taper and goes no higher than the starting dose on
  record (the patient's, or the first program within a day of the implant).
- `soft_limit`: a program accepted past a soft band (usual dose range,
  children's average, titration, refill-visit and decrease bands, a taper
  step) carries an override reason, and the event log holds it.
- `day_rule`: increases, boluses and refill-visit changes keep their 24 h
  rules on the run's true elapsed time, whatever the pump's clock says.
- `reservoir`: the pump's estimate of what is left is never above what is
  really in the reservoir.
- `over_delivery`: what left the reservoir for the patient (in the board's
  calibrated steps, at the concentration it left with; a blocked line
  releases it later) never exceeds what was prescribed plus the boluses
  accepted, by more than one step.
"""
import json

from hw.sim.runner import Run

MS_PER_MIN = 60_000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
NG_PER_MCG = 1000
NL_PER_ML = 1_000_000

# ---------------------------------------------------------------- limits
# The monograph's rows, in ng/day, ng/uL (= mcg/mL) and nL/h. Independent of
# pump.druglib on purpose: if both were wrong the same way, nothing would see it.
DAILY_NG = {  # origin: (hard min, hard max, usual min, usual max, limited experience above)
    "spinal": (12_000, 2_003_000, 300_000, 800_000, 1_000_000),
    "cerebral": (22_000, 1_400_000, 90_000, 703_000, None),
}
MIN_AGE = 4                # not established below
CHILD_BELOW_AGE = 12       # 4..11: cerebral rows; from 12 the patient's origin decides
CHILD_AVERAGE_NG = 274_000  # soft above, under 12
STANDARD_CONCENTRATIONS = (50, 500, 2000)
DILUTION_RANGE = (50, 2000)
SCREENING_CONCENTRATION = 50  # maintenance at it is a soft rule
CEILING_NL_PER_H = 1_000_000  # 1 mL/h
FLOOR_STEPS_PER_H = 1         # the mechanism's resolution
TITRATION_PCT = {"spinal": (10, 30), "cerebral": (5, 15)}
REFILL_INCREASE_PCT = {"spinal": 40, "cerebral": 20}
DECREASE_PCT = (10, 20)
TAPER_MIN_DAYS = 14           # a drug holiday's taper: 2 to 4 weeks
DAY_RULE_MS = MS_PER_DAY
LOW_WARNING_MIN_DAYS = 3
MIN_WINDOW_MS = 10 * MS_PER_MIN
SAMPLE_MS = 10_000
SOUNDED_WITHIN_MS = 15 * MS_PER_MIN
RESTARTS_DELIVERY = ("resume", "ack", "set_prescription", "refill")  # accepted, they may end a stop
OCCLUSION_DETECTION_STEPS = 57  # the detector's stated worst case (pump/occlusion.py, "Bounds")


# Checks not enabled yet, each with the defect it waits for and the scenario
# under tools/scenarios/sequences/ that shows it. A check listed here is still
# made, and counted in `skipped`, but does not fail the run. Entries only
# leave: an invariant is never weakened. Empty: every check is enabled.
PENDING = {}


class Broken(AssertionError):
    """An invariant broken: `check` names it ("invariant.case"), the text
    says how; `invariant` is the part before the dot."""

    def __init__(self, check, t_ms, text):
        AssertionError.__init__(self, "%s at %s: %s" % (check, clock_text(t_ms), text))
        self.check = check
        self.invariant = check.split(".")[0]
        self.t_ms = t_ms


def clock_text(t_ms):
    """Run time for people: 1d 02:03:04.005."""
    s = t_ms // 1000
    return "%dd %02d:%02d:%02d.%03d" % (s // 86400, s // 3600 % 24, s // 60 % 60, s % 60, t_ms % 1000)


# ---------------------------------------------------------- prescriptions
def wire_steps(steps):
    """A set_prescription's steps as sent -> sorted ((start_ms, ng_per_h), ...)."""
    out = []
    for step in steps:
        hh, mm = step["start"].split(":")
        out.append(((int(hh) * 60 + int(mm)) * MS_PER_MIN, int(round(step["mcg_per_h"] * NG_PER_MCG))))
    out.sort()
    return tuple(out)


def rate_at(steps, ms_of_day):
    rate = steps[-1][1]  # before the first start, yesterday's last step runs on
    for start, step_rate in steps:
        if start > ms_of_day:
            break
        rate = step_rate
    return rate


def next_start(steps, ms_of_day):
    for start, _rate in steps:
        if start > ms_of_day:
            return start
    return MS_PER_DAY


def daily_ng(steps):
    """Rate x duration over the day, in ng (rounded down)."""
    total = 0
    for i in range(len(steps)):
        end = steps[i + 1][0] if i + 1 < len(steps) else steps[0][0] + MS_PER_DAY
        total += steps[i][1] * (end - steps[i][0])
    return total // MS_PER_HOUR


def rules_of(patient):
    """Whose dose rows apply: None under 4 years."""
    if patient["age_years"] < MIN_AGE:
        return None
    if patient["age_years"] < CHILD_BELOW_AGE:
        return "cerebral"
    return patient["origin"]


def hard_problems(steps, patient, concentration, steps_per_ml):
    """What puts this prescription, for this patient at this concentration,
    outside a hard limit (a list of words; empty when none)."""
    found = []
    origin = rules_of(patient)
    if origin is None:
        return ["patient aged %d: not established under %d" % (patient["age_years"], MIN_AGE)]
    low, high = DAILY_NG[origin][0], DAILY_NG[origin][1]
    dose = daily_ng(steps)
    if not low <= dose <= high:
        found.append("%d ng/day outside %d..%d (%s)" % (dose, low, high, origin))
    if concentration:
        top = max(rate for _s, rate in steps)
        if top * 1000 > CEILING_NL_PER_H * concentration:
            found.append("%d ng/h at %d mcg/mL is above 1 mL/h" % (top, concentration))
        bottom = min(rate for _s, rate in steps)
        if bottom * 1000 * steps_per_ml < FLOOR_STEPS_PER_H * NL_PER_ML * concentration:
            found.append("%d ng/h at %d mcg/mL is under one step per hour" % (bottom, concentration))
    return found


def soft_problems(dose, previous, kind, patient, concentration):
    """The soft bands a new daily dose crosses (words; empty when none).
    `previous`: the daily dose in force for this patient, None for a first one."""
    found = []
    origin = rules_of(patient)
    if origin is None:
        return found
    _lo, _hi, usual_lo, usual_hi, limited = DAILY_NG[origin]
    if not usual_lo <= dose <= usual_hi:
        found.append("%d ng/day outside the usual %d..%d" % (dose, usual_lo, usual_hi))
    if limited is not None and dose > limited:
        found.append("%d ng/day above limited experience" % dose)
    if patient["age_years"] < CHILD_BELOW_AGE and dose > CHILD_AVERAGE_NG:
        found.append("%d ng/day above the children's average" % dose)
    if concentration == SCREENING_CONCENTRATION:
        found.append("maintenance at the screening concentration")
    if previous is None or dose == previous or kind == "restart":
        return found
    change = (dose - previous) * 100  # percent, times previous
    if dose > previous:
        if kind in (None, "titration"):
            low, high = TITRATION_PCT[origin]
            if not low * previous <= change <= high * previous:
                found.append("increase of %d%% outside the titration band" % (change // previous))
        elif kind == "refill" and change > REFILL_INCREASE_PCT[origin] * previous:
            found.append("refill-visit increase of %d%%" % (change // previous))
    elif kind in (None, "titration", "refill"):  # a taper has its own pace (taper_least_ng)
        low, high = DECREASE_PCT
        if not low * previous <= -change <= high * previous:
            found.append("decrease of %d%% outside %d..%d%%" % (-change // previous, low, high))
    return found


def taper_least_ng(from_ng, origin, days_in):
    """The lowest daily dose a drug-holiday taper may reach on its day
    1 + days_in without a reason: an even fall from `from_ng` to the hard
    minimum over the shortest taper (2 weeks), one step a day."""
    floor = DAILY_NG[origin][0]
    day = min(1 + days_in, TAPER_MIN_DAYS)
    return floor + (from_ng - floor) * (TAPER_MIN_DAYS - day) // TAPER_MIN_DAYS


# ---------------------------------------------------------------- watcher
class Watcher:
    """The independent record of one run and the checks made on it."""

    def __init__(self, run):
        self.run = run
        self.t = 0                # run ms up to which the record is brought
        self.powered_ms = 0       # of it, with the power on
        self.prescribed = 0       # ng x ms/h prescribed while powered
        self.prescribed_all = 0   # ng x ms/h prescribed, powered or not
        self.delivered = 0        # steps to the patient x their mcg/mL
        self.pushed = 0           # steps out of the reservoir (to the patient or trapped
                                  # behind a blockage) x the mcg/mL they left with
        self.pushed_steps = 0
        self.boluses_ng = 0       # accepted, all time
        self.patient_steps = 0    # mechanism.to_patient_steps at self.t
        self.outages = []         # (run ms the power failed, run ms it came back)
        self.restarted_ms = -MS_PER_DAY  # powered ms a person last restarted delivery
        self.refilling = False
        self.blocked_from = None  # forward pulses emitted when the line was blocked (or last backed off)
        self.blocked_backward = 0
        self.samples = []         # (powered ms, prescribed, delivered, forward pulses), oldest first
        self.start = 0            # index of the newest sample at or before the window's start
        self.window = MIN_WINDOW_MS
        self._window_rx = self._window_conc = None
        self._window = MIN_WINDOW_MS
        # what the clinician set and the pump accepted
        self.rx = None            # steps in force
        self.dose = None          # their daily ng
        self.reference = None     # the daily ng a change is measured from (None: a first program)
        self.patient = None
        self.concentration = 0    # what the pump was told is in the reservoir
        self.implant_t = None     # run ms of the implant
        self.increased_t = None
        self.bolus_times = []     # (run ms, ng, kind)
        self.remainder_ng = 0     # the most a remainder may still give: the last bolus's dose, less remainders
        self.last_kind = None     # of the last accepted change
        self.taper = None         # (run ms, daily ng) where the drug holiday's taper began
        self.starting = None      # the post-implant starting dose on record (a restart's target)
        self.refill_t = None
        self.skipped = {}         # pending checks that would have failed: name -> count

    # -- record ------------------------------------------------------
    def update(self, t, sample=True):
        """Bring the record up to run time t (the physics is there already).
        Samples are taken at the run's own hooks only (wake-ups, events), so
        a scenario replayed samples where the sequence that made it did."""
        run = self.run
        mech = run.board.mechanism
        steps = mech.to_patient_steps
        self.delivered += (steps - self.patient_steps) * run.concentration
        self.patient_steps = steps
        pushed = steps + mech.trapped_steps
        self.pushed += (pushed - self.pushed_steps) * run.concentration
        self.pushed_steps = pushed
        if t <= self.t:
            return
        amount = self._prescribed_over(self.t, t)
        self.prescribed += amount
        self.prescribed_all += amount
        self.powered_ms += t - self.t
        self.t = t
        if sample:
            self._sample()

    def person_restarted(self):
        """A person ended a stop (ACK, resume, a new program, a refill): the
        stop was theirs to end, and the window starts again from here."""
        self.restarted_ms = self.powered_ms

    def _powered_between(self, t0, t1):
        """ms of [t0, t1] with the power on."""
        powered = t1 - t0
        for cut, back in self.outages:
            powered -= max(0, min(back, t1) - max(cut, t0))
        return powered

    def power_cut(self, t, off_ms):
        """The power dies at t for off_ms: nothing sounds, nothing is owed."""
        self.update(t)
        self.outages.append((t, t + off_ms))
        if self.blocked_from is not None:  # the pump boots with no pressure history: it looks afresh
            self.blocked_from = self.run.board.stepper.forward_emitted
        self.prescribed_all += self._prescribed_over(t, t + off_ms)
        self.t = t + off_ms

    def _prescribed_over(self, t0, t1):
        """ng x ms/h of the prescription in force over run time [t0, t1),
        at the times of day the pump's wall clock showed (the clock only
        moves by command, and commands take no time)."""
        rx = self.rx
        if rx is None:
            return 0
        if self.run.board.rtc.failing:
            # the DS3231 is dead: the pump cannot know the time of day (it
            # alarms clock_fault and keeps its own), so any rate of the day is
            # the prescription's; the most is the bound
            return max(rate for _start, rate in rx) * (t1 - t0)
        time = self.run.board.time
        total = 0
        while t0 < t1:
            ms = time.day_ms(t0)[1]
            end = min(t1, t0 + next_start(rx, ms) - ms)
            total += rate_at(rx, ms) * (end - t0)
            t0 = end
        return total

    def _sample(self):
        """One sample per SAMPLE_MS of powered time at most: the window then
        starts at most that much (and a wake-up's gap) before N minutes ago."""
        samples = self.samples
        if samples and self.powered_ms - samples[-1][0] < SAMPLE_MS:
            return
        samples.append((self.powered_ms, self.prescribed, self.delivered,
                        self.run.board.stepper.forward_emitted))
        if self.start > 64:  # samples older than the window's start are not needed
            del samples[:self.start]
            self.start = 0

    def _window_ms(self):
        """N: 10 min, or two step intervals at the lowest prescribed rate."""
        run = self.run
        if self.rx is not self._window_rx or run.concentration != self._window_conc:
            self._window_rx, self._window_conc = self.rx, run.concentration
            self._window = self._window_of()
        return self._window

    def _window_of(self):
        run = self.run
        if self.rx is None or not run.concentration:
            return MIN_WINDOW_MS
        lowest = min(rate for _s, rate in self.rx)
        if lowest <= 0:
            return MIN_WINDOW_MS
        # one step is 1000 * c / spm ng; at `lowest` ng/h it takes that / lowest hours
        step_ms = MS_PER_HOUR * 1000 * run.concentration // (lowest * run.board.mechanism.true_steps_per_ml)
        return max(MIN_WINDOW_MS, 2 * step_ms)

    # -- checks ------------------------------------------------------
    def _broken(self, check, text):
        if check in PENDING or check.split(".")[0] in PENDING:
            self.skipped[check] = self.skipped.get(check, 0) + 1
            return
        raise Broken(check, self.t, text)

    def check(self):
        self._check_silent_stop()
        self._check_reservoir()
        self._check_over_delivery()

    def _check_silent_stop(self):
        if self.rx is None or self.run.off_until is not None:
            return  # nothing prescribed, or no power (its lamps and buzzer are dark; the time is exempt)
        window = self._window_ms()
        if window > self.window:
            self.start = 0  # a longer window starts further back (kept samples allow it)
        self.window = window
        since = self.powered_ms - window
        samples = self.samples
        i = self.start
        while i + 1 < len(samples) and samples[i + 1][0] <= since:
            i += 1
        self.start = i
        if not samples or samples[i][0] > since or self.restarted_ms > since:
            return  # not N minutes of powered history yet, or since a person restarted delivery
        start = samples[i]
        prescribed = self.prescribed - start[1]  # ng x ms/h
        delivered = self.delivered - start[2]    # steps x mcg/mL: ng x spm / 1000
        spm = self.run.board.mechanism.true_steps_per_ml
        # delivered ng = delivered * 1000 / spm; prescribed ng = prescribed / MS_PER_HOUR
        if 2 * delivered * 1000 * MS_PER_HOUR >= prescribed * spm:
            return
        if self._blocked_unseen(start[3]):
            return
        lamp = self.run.board.lamps.current
        alarmed = lamp is not None and lamp[2] > 0  # flashing: medium or high
        last = self.run.board.buzzer.last_sounded_ms(self.t)  # the piezo's truth, one-shot bursts too
        silent_ms = None if last is None else self._powered_between(last, self.t)
        sounded = silent_ms is not None and silent_ms <= SOUNDED_WITHIN_MS
        if alarmed and sounded:
            return
        text = "%.1f of %.1f mcg prescribed over the last %d min went in; %s" % (
            delivered / spm, prescribed / MS_PER_HOUR / NG_PER_MCG, (self.powered_ms - start[0]) // MS_PER_MIN,
            "no medium or high alarm shows" if not alarmed else
            "the buzzer has not sounded for %s" % ("ever" if silent_ms is None else
                                                   "%d min" % (silent_ms // MS_PER_MIN)))
        self._broken("silent_stop", text)

    def _blocked_unseen(self, forward_at_start):
        """A blocked line still pushed into, within the detector's bound for
        this detection: counted from the block, or from the pump's last
        back-off (the plunger drawn back: the mark of an occlusion seen,
        after which the detector starts afresh if delivery resumes)."""
        if self.blocked_from is None:
            return False
        stepper = self.run.board.stepper
        forward = stepper.forward_emitted
        backward = forward - stepper.emitted
        if backward != self.blocked_backward:
            self.blocked_from, self.blocked_backward = forward, backward
        return forward > forward_at_start and forward - self.blocked_from <= OCCLUSION_DETECTION_STEPS

    def line_blocked(self, blocked):
        if not blocked:
            self.blocked_from = None
        elif self.blocked_from is None:
            stepper = self.run.board.stepper
            self.blocked_from = stepper.forward_emitted
            self.blocked_backward = stepper.forward_emitted - stepper.emitted

    def _check_reservoir(self):
        if self.refilling:  # the fill and its confirmation are one act: no estimate is right inside it
            return
        run = self.run
        mech = run.board.mechanism
        estimate_nl = run.ctl.reservoir.remaining_nl()
        if estimate_nl * mech.true_steps_per_ml > mech.reservoir_steps * NL_PER_ML:
            self._broken("reservoir", "estimate %d nL, truly %d nL" % (
                estimate_nl, mech.reservoir_steps * NL_PER_ML // mech.true_steps_per_ml))

    def _check_over_delivery(self):
        run = self.run
        spm = run.steps_per_ml  # the board's calibration: the pump answers for its steps
        one_step = run.concentration * 1000 * MS_PER_HOUR
        allowed = (self.prescribed_all + self.boluses_ng * MS_PER_HOUR) * spm + one_step
        if self.pushed * 1000 * MS_PER_HOUR > allowed:
            self._broken("over_delivery", "%.3f mcg pushed out, %.3f mcg prescribed and %.3f in boluses" % (
                self.pushed / spm, self.prescribed_all / MS_PER_HOUR / NG_PER_MCG, self.boluses_ng / NG_PER_MCG))

    # -- commands ----------------------------------------------------
    def command(self, command, reply):
        """A command went out and `reply` came back (None: the power died in it)."""
        if reply is None:
            return
        answer = json.loads(reply)
        if not answer.get("ok"):
            return
        name, args = command["cmd"], command.get("args", {})
        handler = getattr(self, "_accepted_" + name, None)
        if handler is not None:
            handler(args, answer)

    def _hard(self, check, what):
        problems = hard_problems(self.rx, self.patient, self.concentration, self.run.steps_per_ml)
        if problems:
            self._broken(check, "%s accepted: %s" % (what, "; ".join(problems)))

    def _accepted_patient(self, args, answer):
        """The history (implant, increases, boluses, the titration reference)
        belongs to the patient: only an explicit new_patient resets it, and
        the implant is the first one the clinician stated since."""
        days = args.get("days_since_implant")
        patient = {"origin": args["origin"], "age_years": args["age_years"], "days_since_implant": days}
        if rules_of(patient) is None:
            self._broken("hard_limit.age", "patient aged %d accepted" % patient["age_years"])
        rules_changed = self.patient is None or args.get("new_patient") or (
            (self.patient["origin"], self.patient["age_years"]) != (patient["origin"], patient["age_years"]))
        if args.get("new_patient"):
            self.implant_t = self.increased_t = self.reference = self.starting = self.last_kind = None
            self.bolus_times = []
            self.remainder_ng = 0
        if args.get("starting_mcg_per_day") is not None:
            self.starting = int(round(args["starting_mcg_per_day"] * NG_PER_MCG))
        if self.implant_t is None and days is not None:
            self.implant_t = self.t - days * MS_PER_DAY
        self.patient = patient
        if self.rx is not None:
            what = "patient %r with %d ng/day running" % (patient, self.dose)
            self._hard("hard_limit.patient_change", what)
            soft = soft_problems(self.dose, None, None, patient, self.concentration) if rules_changed else []
            if soft:  # the same patient's program keeps the reason it was given
                self._check_override(args.get("override"), "%s (%s)" % (what, "; ".join(soft)))

    def _accepted_set_prescription(self, args, answer):
        if self.patient is None:
            self._broken("hard_limit.no_patient", "a prescription accepted without a patient")
        steps = wire_steps(args["steps"])
        dose = daily_ng(steps)
        kind = args.get("kind")
        previous, self.rx = self.reference, steps
        self._hard("hard_limit.prescription", "prescription of %d ng/day" % dose)
        soft = soft_problems(dose, previous, kind, self.patient, self.concentration)
        if kind == "restart" and previous is not None and (
                self.last_kind != "taper" or self.starting is None or dose > self.starting):
            self._broken("hard_limit.restart", "a restart to %d ng/day after a %s change (starting dose %s)" % (
                dose, self.last_kind, self.starting))
        if kind == "taper" and previous is not None and dose < previous:
            if self.last_kind != "taper" or self.taper is None:
                self.taper = (self.t, previous)
            start, from_ng = self.taper
            least = taper_least_ng(from_ng, rules_of(self.patient), (self.t - start) // MS_PER_DAY)
            if dose < least:
                soft.append("taper to %d ng/day, faster than 2 weeks (%d)" % (dose, least))
        if soft:
            self._check_override(args.get("override"), "prescription of %d ng/day (%s)" % (dose, "; ".join(soft)))
        if previous is not None and dose > previous:
            self._day_rule("day_rule.increase_after_implant", self.implant_t, "an increase after the implant")
            self._day_rule("day_rule.increase_after_increase", self.increased_t, "an increase after the last increase")
            self.increased_t = self.t
        if kind == "refill":
            if self.refill_t is None or self.t - self.refill_t > DAY_RULE_MS:
                self._broken("day_rule.refill_visit", "a refill-visit change %s" % (
                    "without a refill" if self.refill_t is None else
                    "%s after the refill" % clock_text(self.t - self.refill_t)))
        if previous is None and self.starting is None and self.implant_t is not None \
                and self.t - self.implant_t < DAY_RULE_MS:
            self.starting = dose  # the first continuous dose within a day of the implant: the starting dose
        self.dose = self.reference = dose
        self.last_kind = kind

    def _accepted_refill(self, args, answer):
        conc = int(args["concentration_mcg_per_ml"])
        dilution = args.get("dilution", False)
        standard = conc in STANDARD_CONCENTRATIONS
        if not standard and not (dilution and DILUTION_RANGE[0] <= conc <= DILUTION_RANGE[1]):
            self._broken("hard_limit.concentration", "refill at %d mcg/mL accepted (dilution %s)" % (conc, dilution))
        changed = conc != self.concentration
        self.concentration = conc
        self.refill_t = self.t
        if self.rx is not None:
            what = "refill to %d mcg/mL with %d ng/day running" % (conc, self.dose)
            self._hard("hard_limit.refill_flow", what)
            if changed and conc == SCREENING_CONCENTRATION:
                self._check_override(args.get("override"), what + " (maintenance at the screening concentration)")

    def _accepted_bolus(self, args, answer):
        """Screening boluses (before the implant) are a day apart; any other
        bolus is an increase, and none comes in the first day after the
        implant; every bolus counts in full in the day's hard maximum. A
        remainder is the rest of a bolus cut short, already counted in
        full: it is not counted again, but all the remainders of a bolus
        together are never more than that bolus."""
        ng = int(round(args["mcg"] * NG_PER_MCG))
        kind = args.get("kind", "clinician")
        if kind == "remainder":
            self._day_rule("day_rule.bolus_after_implant", self.implant_t, "a remainder after the implant")
            self.remainder_ng -= ng
            if self.remainder_ng < 0:
                self._broken("hard_limit.bolus_day", "a remainder of %d ng is more than the bolus it finishes" % ng)
            return
        if kind == "screening":
            screening = [t for t, _ng, k in self.bolus_times if k == "screening"]
            if screening:
                self._day_rule("day_rule.bolus_after_bolus", screening[-1], "a screening bolus after the last")
        else:
            self._day_rule("day_rule.bolus_after_implant", self.implant_t, "a bolus after the implant")
        day_ago = self.t - MS_PER_DAY
        total = (self.dose or 0) + ng
        for t, given, _k in self.bolus_times:
            if t > day_ago:
                total += given
        origin = rules_of(self.patient)
        if origin is not None and total > DAILY_NG[origin][1]:
            self._broken("hard_limit.bolus_day", "a bolus of %d ng takes the day to %d ng" % (ng, total))
        self.bolus_times.append((self.t, ng, kind))
        self.boluses_ng += ng
        self.remainder_ng = ng

    def _accepted_settings(self, args, answer):
        days = args.get("low_reservoir_days")
        if days is not None and days < LOW_WARNING_MIN_DAYS:
            self._broken("hard_limit.low_warning", "a low-reservoir warning %d days ahead accepted" % days)

    def _day_rule(self, check, since_t, what):
        if since_t is not None and self.t - since_t < DAY_RULE_MS:
            self._broken(check, "%s %s later (true time)" % (what, clock_text(self.t - since_t)))

    def _check_override(self, reason, what):
        text = reason.strip() if isinstance(reason, str) else ""
        if not text:
            self._broken("soft_limit.no_reason", "%s accepted without an override reason" % what)
        if text[:40] not in self._logged_overrides():
            self._broken("soft_limit.not_logged", "%s: override %r not in the event log" % (what, text))

    def _logged_overrides(self):
        """The notes of the newest override entries, read as a clinician does
        (the read-only log command: it advances nothing)."""
        run = self.run
        reply = run.commands.handle_line(b'{"cmd": "log", "args": {"n": 50}}', run.ctl.now_s())
        notes = []
        for entry in json.loads(reply)["entries"]:
            if entry["event"].endswith("override"):  # override, patient_override, ...
                notes.append(entry.get("note", "")[:40])
        return notes


class _Unmeasured:
    """Stands in for the runner's dose checker and ledger, whose figures
    feed the report, not these checks (and cost a third of the run)."""
    active = False
    den = 1

    def _nothing(self, *args):
        pass

    pause = reset = set_rate = add_lump = pulse = at = hold = release = program = program_bolus = deliver = _nothing


class CheckedRun(Run):
    """A scenario run with the Watcher on its hooks. It makes no report:
    tools/sim.py replays the same scenario for that."""

    def __init__(self, scenario, flash=None):
        self.watch = Watcher(self)
        Run.__init__(self, scenario, flash)
        self.checker = self.ledger = _Unmeasured()

    def _read_alarms(self):
        pass

    def _program(self, t0, t1):
        pass

    def command(self, command):
        watch = self.watch
        before = watch.restarted_ms
        if command["cmd"] in RESTARTS_DELIVERY:  # before it runs: the pump acts on it at once
            watch.update(self.time.t_ms)
            watch.person_restarted()
        reply = Run.command(self, command)
        if reply is None or not json.loads(reply)["ok"]:
            watch.restarted_ms = before  # refused: it ended nothing
        watch.command(command, reply)
        return reply

    def _observe(self, t):
        Run._observe(self, t)
        self.watch.update(self.time.t_ms)
        self.watch.check()

    def _event(self, event):
        self.watch.update(self.time.t_ms)
        if event["do"] == "press":
            self.watch.person_restarted()
        self.watch.refilling = event["do"] == "refill"
        Run._event(self, event)
        self.watch.refilling = False
        self.watch.line_blocked(self.board.mechanism.occluded)
        self.watch.update(self.time.t_ms)
        self.watch.check()

    def _power_cut(self, off_ms):
        self.watch.power_cut(self.time.t_ms, off_ms)
        Run._power_cut(self, off_ms)

    def check_now(self):
        self.watch.update(self.time.t_ms, False)
        self.watch.check()

    def run(self):
        """The whole scenario, as Run.run() plays it, checked at its end too."""
        self._advance()
        self.advance_to(self.scenario["duration_ms"])
        self.check_now()
