"""What an adversarial clinician and bench tester do to the pump, as rules.

One rule set, two drivers: test_sequences.py turns each rule into a
hypothesis `RuleBasedStateMachine` rule (CPython), and test_sequence_walk.py
walks the same rules with a seeded PRNG (both interpreters). A rule's
arguments are data (`INT`, `PICK`), drawn by either driver; they reach across
and beyond the limits of the command table and of the drug library.

A `Sequence` is a simulated run built one scenario event at a time: every
rule appends an event (in the scenario file's words and in the runner's
integers) at the current run time and lets the run catch up with it, with
the invariants of seqcheck checked at every wake-up and event. So a failing
sequence *is* a scenario: `scenario()` gives the file that `tools/sim.py`
replays, and `CheckedRun` replays it through the same checks.
"""
from hw.sim.rng import XorShift32
from pump.units import clock_s_to_iso
from seqcheck import CheckedRun

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
DAY0 = 9557  # 2026-03-02
NOMINAL_STEPS_PER_ML = 12_732
REASON_120 = "r" * 120


def INT(low, high):
    return ("int", low, high)


def PICK(*values):
    return ("pick", values)


def draw(spec, rng):
    """A value of `spec` from the seeded PRNG (hypothesis draws its own)."""
    if spec[0] == "int":
        return rng.between(spec[1], spec[2])
    return spec[1][rng.below(len(spec[1]))]


# ------------------------------------------------------------- the start
# A pump programmed within every limit and band, so that any refusal or
# alarm later is the sequence's doing. Daily doses are per mille of a range
# the library accepts without an override for that age and origin, whether
# 12-17 follow their origin (the monograph) or the cerebral rows.
SETUP = (
    ("origin", PICK("spinal", "cerebral")),
    ("age", PICK(4, 8, 11, 12, 15, 17, 18, 40, 80)),
    ("days_since_implant", PICK(0, 1, 2, 30, 400)),
    ("concentration", PICK(500, 2000)),
    ("fill_ml", PICK(0.5, 3, 8, 20)),
    ("dose_permille", INT(0, 1000)),
    ("night_step", PICK(False, True)),
    ("start_hour", INT(0, 23)),
    ("seed", INT(1, 9999)),
    ("calibration_error_ppm", PICK(0, 0, -20_000, 20_000)),
)


def _setup_range(origin, age):
    if age < 12:
        return 100_000, 270_000
    if age < 18 and origin == "spinal":
        return 300_000, 700_000
    return (300_000, 800_000) if origin == "spinal" else (90_000, 703_000)


def _steps(daily_ng, night):
    """Wire steps for about `daily_ng` a day: whole ng/h, whole-hour starts."""
    base = daily_ng // 24
    if not night:
        return [{"start": "00:00", "mcg_per_h": base / 1000}]
    return [{"start": "06:00", "mcg_per_h": base * 9 // 10 / 1000},
            {"start": "22:00", "mcg_per_h": base * 6 // 5 / 1000}]


def initial(origin, age, days_since_implant, concentration, fill_ml, dose_permille, night_step,
            start_hour, seed, calibration_error_ppm):
    """(scenario file without events, the runner's normalised scenario)."""
    low, high = _setup_range(origin, age)
    steps = _steps(low + (high - low) * dose_permille // 1000, night_step)
    patient = {"origin": origin, "age_years": age, "days_since_implant": days_since_implant}
    start_ms = start_hour * MS_PER_HOUR
    raw = {"start": clock_s_to_iso(DAY0 * 86_400 + start_ms // 1000), "duration_h": 0, "seed": seed,
           "patient": patient,
           "reservoir": {"capacity_ml": 20, "fill_ml": fill_ml, "concentration_mcg_per_ml": concentration},
           "prescription": {"steps": steps},
           "settings": {"low_reservoir_ml": 2.0, "low_reservoir_days": 7}}
    normalised = {
        "start_day": DAY0, "start_ms": start_ms, "duration_ms": 0, "seed": seed,
        "patient": patient, "fill_nl": int(round(fill_ml * 1_000_000)),
        "concentration_ng_per_ul": concentration, "dilution": False,
        "prescription": [[int(s["start"][:2]) * MS_PER_HOUR, int(round(s["mcg_per_h"] * 1000))] for s in steps],
        "setup": [{"cmd": "patient", "args": patient},
                  {"cmd": "refill", "args": {"add_ml": fill_ml, "concentration_mcg_per_ml": concentration,
                                             "confirm": True}},
                  {"cmd": "settings", "args": raw["settings"]},
                  {"cmd": "set_prescription", "args": {"steps": steps}}],
        "calibration": {"capacity_nl": 20_000_000},
        "events": [],
    }
    if calibration_error_ppm:
        true_spm = NOMINAL_STEPS_PER_ML * (1_000_000 + calibration_error_ppm) // 1_000_000
        raw["board"] = {"true_steps_per_ml": true_spm}
        normalised["true_steps_per_ml"] = true_spm
    return raw, normalised


# ------------------------------------------------------------- the rules
# name -> (weight in the seeded walk and copies in the state machine, arguments)
RULES = (
    ("wait", 8, (("unit_ms", PICK(1_000, 10_000, 60_000, 300_000, 600_000)), ("times", INT(1, 6)))),
    ("press_ack", 3, ()),
    ("occlude", 2, ()),
    ("clear_occlusion", 2, ()),
    ("stall", 1, ()),
    ("unstall", 1, ()),
    ("sensor_fault", 1, (("fault", PICK("open", "stuck", "out_of_range", "none")),)),
    ("power_cut", 2, (("off_s", PICK(0, 1, 30, 600, 3600, 43_200, 345_600)),)),
    ("refill", 2, (("add_ml", PICK(0.5, 2, 10, 20, 25)),
                   ("concentration", PICK(50, 500, 2000, 100, 1000, 2500, 20, 499)),
                   ("dilution", PICK(False, True)))),
    ("set_prescription", 4, (("pct", PICK(-70, -40, -25, -20, -15, -10, -5, 0, 5, 10, 15, 20, 30, 35, 40, 45, 100, 300)),
                             ("absolute", PICK(None, None, None, None, 0, 0.001, 83.458, 2000.001)),
                             ("shape", PICK("flat", "flat", "night", "ten", "eleven", "odd")),
                             ("kind", PICK(None, None, "titration", "refill", "taper", "restart")),
                             ("override", PICK(None, None, "", "  ", "responder, per Dr. Ng", REASON_120, REASON_120 + "r")),
                             ("dilution", PICK(False, False, True)))),
    ("bolus", 2, (("mcg", PICK(1, 25, 50, 75, 100, 150, 1000)), ("override", PICK(None, None, "screening per protocol")),
                  ("kind", PICK(None, None, "clinician", "screening", "remainder")), ("duration_s", PICK(None, None, 1, 60, 900)))),
    ("patient", 1, (("origin", PICK(None, "spinal", "cerebral")), ("age", PICK(None, None, 3, 10, 12, 15, 40)),
                    ("days_since_implant", PICK(None, None, 0, 1, 400, "not implanted")),
                    ("new_patient", PICK(False, False, False, True)), ("starting_mcg_per_day", PICK(None, None, 300, 2500)),
                    ("override", PICK(None, None, "running program reviewed, Dr. Ng")))),
    ("stop", 2, (("reason", PICK("suspected overdose", REASON_120, REASON_120 + "r", "")),)),
    ("resume", 2, ()),
    ("ack", 1, ()),
    ("silence", 1, ()),
    ("settings", 1, (("low_ml", PICK(None, 0, 2, 50, 51)), ("low_days", PICK(None, 0, 2, 3, 7, 90, 91)))),
    ("set_clock", 2, (("to", PICK(-2 * 86_400, -86_400, -3600, -61, 61, 3600, 23 * 3600, 86_400, 2 * 86_400,
                                  "2034-01-10T12:00:00", "2100-01-01T00:00:00")),)),
    ("bench", 1, (("fault", PICK("pressure", "stall", "empty", "clear")), ("mpsi", PICK(None, 0, 5000, 30_000)))),
    ("read", 1, (("what", PICK("status", "alarms", "log", "reservoir", "prescription", "version", "auth")),)),
    # rare: what would end most sequences early, or cost the most time to simulate
    ("rare", 1, (("what", PICK("flash_failure", "clock_fault", "supply_low", "supply_ok", "hot", "cool",
                               "selftest", "day") + ("nothing",) * 8),)),
)


class Sequence:
    """One simulated run grown event by event, checked all along."""

    def __init__(self, setup):
        self.raw, self.normalised = initial(**setup)
        self.events = []  # the scenario file's events
        self.t = 0
        self.run = None
        self.batch_t = None  # events ran at this time and the runner's wake after them is due

    def start(self):
        """Program the pump (the scenario's setup) and let it begin."""
        self.run = CheckedRun(self.normalised)
        self.run._advance()  # as Run.run() begins

    # -- the scenario ------------------------------------------------
    def scenario(self, description=""):
        raw = dict(self.raw)
        raw["duration_h"] = max(self.t, 1) / MS_PER_HOUR
        raw["events"] = list(self.events)
        if description:
            raw["description"] = description
        return raw

    def _event(self, raw, normalised):
        if self.batch_t is not None and self.t > self.batch_t:
            self._wake_after_events()
        raw = dict(raw)
        raw["at_h"] = self.t / MS_PER_HOUR
        normalised["at_ms"] = self.t
        self.events.append(raw)
        self.run.events.append(normalised)
        self.run.advance_to(self.t)
        self.batch_t = self.t
        self.run.check_now()

    def _wake_after_events(self):
        """Run.advance_to wakes the pump once after the events of one time,
        before time moves on, if it has power: so must a sequence, to be
        its own scenario."""
        self.batch_t = None
        if self.run.off_until is None:
            self.run._advance()
        self.run.check_now()

    def _plain(self, do):
        self._event({"do": do}, {"do": do})

    def _command(self, cmd, args=None):
        command = {"cmd": cmd}
        if args is not None:
            command["args"] = args
        self._event({"do": "command", "command": command}, {"do": "command", "command": command})

    # -- time --------------------------------------------------------
    def wait(self, unit_ms, times):
        if self.batch_t is not None:
            self._wake_after_events()
        self.t += unit_ms * times
        self.run.advance_to(self.t)
        self.run.check_now()

    # -- the patient's side and the bench's hands --------------------
    def press_ack(self):
        self._event({"do": "press", "button": "ack"}, {"do": "press"})

    def occlude(self):
        self._plain("occlude")

    def clear_occlusion(self):
        self._plain("clear_occlusion")

    def stall(self):
        self._plain("stall")

    def unstall(self):
        self._plain("unstall")

    def sensor_fault(self, fault):
        self._event({"do": "sensor_fault", "sensor": "pressure", "fault": fault},
                    {"do": "sensor_fault", "fault": fault})

    def power_cut(self, off_s):
        """The power fails now for off_s; the run goes on from when it is back
        (the runner lives the outage inside the event)."""
        self._event({"do": "power_cut", "off_s": off_s}, {"do": "power_cut", "off_ms": off_s * 1000})
        if off_s:
            self.t += off_s * 1000
            self._wake_after_events()  # the replay's next wake comes at the end of the outage

    def rare(self, what):
        if what in ("flash_failure", "clock_fault"):
            self._plain(what)
        elif what in ("supply_low", "supply_ok"):
            mv = 3300 if what == "supply_low" else 5000
            self._event({"do": "supply", "mv": mv}, {"do": "supply", "mv": mv})
        elif what in ("hot", "cool"):
            c = 35 if what == "hot" else 25
            self._event({"do": "temperature", "c": c}, {"do": "temperature", "mc": c * 1000})
        elif what == "selftest":
            self._command("selftest")
        elif what == "day":  # a day and an hour: the 24 h rules come round
            self.wait(MS_PER_HOUR, 25)

    # -- the clinician ------------------------------------------------
    def refill(self, add_ml, concentration, dilution):
        """A refill within the library goes into the reservoir and is
        confirmed; one outside it is only typed (the pump must refuse it)."""
        standard = concentration in (50, 500, 2000)
        if not standard and not (dilution and 50 <= concentration <= 2000):
            args = {"add_ml": add_ml, "concentration_mcg_per_ml": concentration, "confirm": True}
            if dilution:
                args["dilution"] = True
            self._command("refill", args)
            return
        raw = {"do": "refill", "add_ml": add_ml, "concentration_mcg_per_ml": concentration}
        args = {"add_ml": add_ml, "confirm": True, "concentration_mcg_per_ml": concentration}
        if dilution:
            raw["dilution"] = args["dilution"] = True
        self._event(raw, {"do": "refill", "add_nl": int(round(add_ml * 1_000_000)),
                          "concentration_ng_per_ul": concentration,
                          "command": {"cmd": "refill", "args": args}})

    def set_prescription(self, pct, absolute, shape, kind, override, dilution):
        daily = self.run.watch.dose or 480_000
        daily = daily * (100 + pct) // 100
        if absolute is not None:
            steps = [{"start": "00:00", "mcg_per_h": absolute}]
        elif shape in ("flat", "night"):
            steps = _steps(daily, shape == "night")
        elif shape == "odd":  # minutes and ng that need not make a whole ng a day
            base = daily // 24
            steps = [{"start": "00:00", "mcg_per_h": (base + 7) / 1000},
                     {"start": "07:31", "mcg_per_h": (base * 3 // 4 + 1) / 1000}]
        else:  # ten steps (the table's most) or eleven, three decimals each
            count = 10 if shape == "ten" else 11
            base = daily // 24
            steps = [{"start": "%02d:00" % (2 * i), "mcg_per_h": (base + (i % 3 - 1) * base // 10 + i) / 1000}
                     for i in range(count)]
        args = {"steps": steps}
        if kind is not None:
            args["kind"] = kind
        if override is not None:
            args["override"] = override
        if dilution:
            args["dilution"] = True
        self._command("set_prescription", args)

    def bolus(self, mcg, override, kind, duration_s):
        args = {"mcg": mcg}
        for name, value in (("override", override), ("kind", kind), ("duration_s", duration_s)):
            if value is not None:
                args[name] = value
        self._command("bolus", args)

    def patient(self, origin, age, days_since_implant, new_patient, starting_mcg_per_day, override):
        """The same patient with a change, or (new_patient) another one."""
        now = self.run.watch.patient or self.raw["patient"]
        args = {"origin": origin or now["origin"], "age_years": now["age_years"] if age is None else age}
        days = now["days_since_implant"] if days_since_implant is None else days_since_implant
        if days is not None and days != "not implanted":
            args["days_since_implant"] = days
        if new_patient:
            args["new_patient"] = True
            args["reason"] = "another patient: transfer from ward 3"
        for name, value in (("starting_mcg_per_day", starting_mcg_per_day), ("override", override)):
            if value is not None:
                args[name] = value
        self._command("patient", args)

    def stop(self, reason):
        self._command("stop", {"reason": reason})

    def resume(self):
        self._command("resume")

    def ack(self):
        self._command("ack")

    def silence(self):
        self._command("silence")

    def settings(self, low_ml, low_days):
        args = {}
        if low_ml is not None:
            args["low_reservoir_ml"] = low_ml
        if low_days is not None:
            args["low_reservoir_days"] = low_days
        self._command("settings", args)

    def set_clock(self, to):
        if not isinstance(to, str):
            day, ms = self.run.board.time.day_ms()
            to = clock_s_to_iso(day * 86_400 + ms // 1000 + to)
        self._command("set_clock", {"iso": to})

    def bench(self, fault, mpsi):
        args = {"fault": fault}
        if mpsi is not None:
            args["mpsi"] = mpsi
        self._command("bench", args)

    def read(self, what):
        self._command(what)


def walk(seed, steps):
    """A seeded sequence of `steps` rules (the same rules, drawn by the PRNG).
    Returns the Sequence; seqcheck.Broken propagates with it as `sequence`."""
    rng = XorShift32(seed)
    total = 0
    for _name, weight, _args in RULES:
        total += weight
    sequence = Sequence(dict((name, draw(spec, rng)) for name, spec in SETUP))
    try:
        sequence.start()
        for _ in range(steps):
            pick = rng.below(total)
            for name, weight, arg_specs in RULES:
                if pick < weight:
                    break
                pick -= weight
            getattr(sequence, name)(**dict((arg, draw(spec, rng)) for arg, spec in arg_specs))
    except AssertionError as exc:
        exc.sequence = sequence
        raise
    return sequence
