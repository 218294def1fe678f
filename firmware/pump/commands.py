"""What each protocol command does to the pump.

pump.protocol has already framed, authenticated and converted the command
(integer units, every field present); this is the handler it dispatches to.
Clinical checks happen here, through the drug library and the titration
history, so every way of programming the pump (serial, scenario, bench)
meets the same rules. A refusal raises CommandError listing every rule
broken; nothing changes on a refusal.
"""
from pump import alarms, card, clinical, druglib, events, stopped, therapy, titration
from pump.delivery import bolus_min_ms
from pump.prescription import Prescription
from pump.protocol import Protocol, Rows
from pump.benchfaults import BENCH_VALUE_UNITS
from pump.schema import CommandError, needs_mac
from pump.stops import STOP_COMMAND, reason_names
from pump.units import NG_PER_MCG, NL_PER_ML, S_PER_DAY, WEEKDAY_NAMES, clock_s_to_iso, ms_to_hhmm

FIRMWARE_VERSION = "0.1.0"
REFILL_VISIT_S = 24 * 3600  # a refill-visit change must follow a refill within a day (steady clock)
# What the protocol reports (pump.protocol on_event) -> (log code, detail field for a).
# bench_fault is logged by pump.bench itself, with what was forced; a failed counter
# store is the storage fault the controller raises anyway.
PROTOCOL_EVENTS = {"bad_mac": (events.AUTH_FAILED, "failures"), "replay": (events.REPLAY, "ctr"),
                   "programming_locked": (events.LOCKED_OUT, None), "bench_refused": (events.BENCH_REFUSED, None),
                   "protocol_fault": (events.PROTOCOL_FAULT, None)}
PLAN_NEEDS = {"starting_dose": ("screening_ng", "effect_h"), "taper": ("days",),
              "flex_preview": ("effects",), "flex_week_preview": ("week_effects",), "csf_curve": ("hours",)}


class _CounterStore:
    """The protocol's monotonic counter lives in the state record."""

    def __init__(self, ctl):
        self.ctl = ctl

    def get(self):
        return self.ctl.counter

    def set(self, value):
        if not self.ctl.take_counter(value):
            raise OSError("state record not saved")


def _refuse(decision):
    names = ["%s (%s)" % (v["rule"], v["message"]) for v in decision["violations"]]
    code = "needs_override" if decision["verdict"] == druglib.NEEDS_OVERRIDE else "refused"
    raise CommandError(code, "; ".join(names))


def _mcg(ng):
    return ng / NG_PER_MCG


def _ml(nl):
    """For display: mL to the uL (a float for people; the pump keeps none)."""
    return round(nl / NL_PER_ML, 3)


def _steps_reply(steps):
    return [{"start": ms_to_hhmm(s), "mcg_per_h": _mcg(r)} for s, r in steps]


def program_reply(rx):
    """A program's doses for people: a daily one's mcg/day; a weekly one's
    per weekday and for the week."""
    if not rx.weekly:
        return {"program": "daily", "daily_mcg": _mcg(rx.daily_ng())}
    # a list, not an object: MicroPython's json writes an object's keys in hash order
    return {"program": "weekly", "week_mcg": _mcg(rx.week_ng()),
            "days": [{"day": name, "daily_mcg": _mcg(ng)} for name, ng in zip(WEEKDAY_NAMES, rx.week_doses_ng())]}


def _when(ctl, now_s):
    """A pump time (Controller.now_s) for people, or None."""
    return None if now_s is None else clock_s_to_iso(ctl.clock_s(now_s))


def _update_history(history, patient, steady_s, starting_ng):
    """The same patient, described again: checks the update against their
    history, then records the implant (after the trial) or the starting
    dose where the history has none yet. The implant never moves earlier:
    that would shorten the 24 h rules after it."""
    days = patient["days_since_implant"]
    recorded_s = history.implant_s
    if recorded_s is not None and days is None:
        raise CommandError("refused", "the implant is recorded; a patient not yet implanted is a new_patient")
    if recorded_s is not None and days > (steady_s - recorded_s) // S_PER_DAY:
        raise CommandError("refused", "the implant is recorded %d days ago; an earlier one is a new_patient"
                           % ((steady_s - recorded_s) // S_PER_DAY))
    if starting_ng is not None and history.initial_ng not in (None, starting_ng):
        raise CommandError("refused", "the starting dose is recorded as %s mcg/day; another is a new_patient"
                           % druglib.mcg_text(history.initial_ng))
    if recorded_s is None and days is not None:
        history.implant_s = steady_s - days * S_PER_DAY  # the trial is over: the implant
    if starting_ng is not None:
        history.initial_ng = starting_ng


class Commands:
    def __init__(self, ctl, key):
        self.ctl = ctl
        self.protocol = Protocol(self, key, _CounterStore(ctl), ctl.board.bench_enabled,
                                 self._on_protocol_event)
        self.bench = None  # pump.bench, loaded by the first `bench` command only

    def handle_line(self, line, now_s, truncated=False):
        self.ctl.command_arrived()
        return self.protocol.handle_line(line, now_s, truncated)

    def reply_to(self, write, line, now_s, truncated=False):
        self.ctl.command_arrived()
        self.protocol.reply_to(write, line, now_s, truncated)

    def execute(self, name, args, now_s):
        reply = self.HANDLERS[name](self, args, now_s)
        if needs_mac(name):  # what changed the pump is logged; reads are not
            self.ctl.record(now_s, events.COMMAND, _COMMAND_CODES[name])
        return reply

    def _on_protocol_event(self, kind, now_s, detail):
        if kind not in PROTOCOL_EVENTS:
            return
        code, field = PROTOCOL_EVENTS[kind]
        if code == events.LOCKED_OUT:
            a = detail["until_s"] - now_s
        else:
            a = detail.get(field, 0) if field else 0
        self.ctl.record(now_s, code, a if isinstance(a, int) else 0)

    # ------------------------------------------------------- read-only
    def _status(self, args, now_s):
        ctl = self.ctl
        rx = ctl.prescription
        state = "not programmed" if rx is None else ("delivering" if ctl.delivering else "stopped")
        reply = {"state": state, "delivering": ctl.delivering, "stopped_for": reason_names(ctl.stop_mask),
                 "rate_mcg_per_h": _mcg(rx.rate_at(ctl.day, ctl.ms)) if rx else 0,
                 "daily_mcg": _mcg(rx.dose_on_ng(ctl.day)) if rx else 0,  # today's
                 "remaining_ml": _ml(ctl.reservoir.remaining_nl()),
                 "alarms": [alarms.KIND_NAMES[k] for k in range(alarms.KIND_COUNT) if ctl.alarms.active(k)],
                 "startup_faults": [detail for _kind, detail in ctl.board.startup_faults],
                 "bolus_running": ctl.bolus_end is not None,
                 "bolus_undelivered_mcg": _mcg(ctl.history.undelivered_ng(ctl.steady_s())) if ctl.history else 0,
                 "time": clock_s_to_iso(ctl.clock_s(now_s))}
        reply.update(stopped.stop_report(ctl))
        reply["line"] = therapy.line_report(ctl)
        return reply

    def _prescription(self, args, now_s):
        rx = self.ctl.prescription
        if rx is None:
            return {"steps": [], "daily_mcg": 0, "patient": self.ctl.patient}
        reply = program_reply(rx)
        if rx.weekly:
            reply["week"] = [dict(step, day=name) for name, day in zip(WEEKDAY_NAMES, rx.days)
                             for step in _steps_reply(day)]
        else:
            reply["steps"] = _steps_reply(rx.steps)
        reply["patient"] = self.ctl.patient
        return reply

    def _reservoir(self, args, now_s):
        ctl = self.ctl
        reservoir = ctl.reservoir
        to_empty = card.ms_until_steps_out(ctl, max(reservoir.remaining_steps(), 0))  # None: not delivering
        return {"capacity_ml": _ml(reservoir.capacity_nl),
                "concentration_mcg_per_ml": reservoir.concentration_ng_per_ul,
                "remaining_ml": _ml(reservoir.remaining_nl()),
                "low_at_ml": _ml(reservoir.low_threshold_steps * NL_PER_ML // reservoir.lowest_steps_per_ml),
                "empty_in_h": None if to_empty is None else to_empty // 3_600_000}

    def _alarms(self, args, now_s):
        ctl = self.ctl
        am = ctl.alarms
        return {"active": [alarms.KIND_NAMES[k] for k in range(alarms.KIND_COUNT) if am.active(k)],
                "history": [{"kind": alarms.KIND_NAMES[e.kind], "priority": alarms.PRIORITY_NAMES[e.priority],
                             "raised": _when(ctl, e.raised_s), "acknowledged": _when(ctl, e.acknowledged_s),
                             "cleared": _when(ctl, e.cleared_s), "escalated": _when(ctl, e.escalated_s)}
                            for e in am.history]}

    def _log(self, args, now_s):
        """Newest first, each entry made as it is written (Rows): fifty
        entries as one reply object would hold tens of KB at once."""
        return {"entries": Rows(self._log_rows(args["n"], args["before"]))}

    def _log_rows(self, n, before):
        """A note (NOTE entries, logged after the entry they explain) is
        joined back into the entry it belongs to."""
        note = []
        for seq, t, code, a, b in self.ctl.log.newest(n, before):
            if code == events.NOTE:
                note.append((a, b))
                continue
            entry = {"seq": seq, "time": clock_s_to_iso(t), "event": events.NAMES.get(code, str(code)),
                     "detail": events.describe(code, a, b)}
            if note:
                entry["note"] = events.note_text(reversed(note))
                note = []
            yield entry

    def _plan(self, args, now_s):
        """The clinical helpers (pump.clinical), in mcg for people. A plan is
        a proposal: programming it goes through set_prescription's checks."""
        what, ctl = args["what"], self.ctl
        missing = [name for name in PLAN_NEEDS[what] if args[name] is None]
        if missing:
            raise CommandError("bad_args", "plan %s needs %s" % (what, ", ".join(missing)))
        if what == "starting_dose":
            return {"daily_mcg": _mcg(clinical.starting_daily_ng(args["screening_ng"], args["effect_h"] * 3600))}
        if what == "flex_preview":
            rows = clinical.flex_preview(args["effects"])["rows"]
            return {"steps": [{"start": r["starts_at"], "for_effect_at": r["effect_at"],
                               "mcg_per_h": _mcg(r["ng_per_h"])} for r in rows]}
        if what == "flex_week_preview":
            rows = clinical.flex_week_preview(args["week_effects"])["rows"]
            return {"steps": [{"day": WEEKDAY_NAMES[r["start_day"]], "start": r["starts_at"],
                               "for_effect": "%s %s" % (WEEKDAY_NAMES[r["effect_day"]], r["effect_at"]),
                               "mcg_per_h": _mcg(r["ng_per_h"])} for r in rows]}
        if ctl.prescription is None:
            raise CommandError("no_prescription", "plan %s works from the programmed prescription" % what)
        if what == "taper":
            try:
                plan = clinical.holiday_taper(ctl.prescription.daily_ng(), args["days"], ctl.patient,
                                              ctl.history.initial_ng)
            except ValueError as exc:
                raise CommandError("bad_args", str(exc))
            restart_ng = plan["restart"]["daily_ng"]
            return {"taper": [{"day": day, "daily_mcg": _mcg(ng)} for day, ng in plan["taper"]],
                    "restart_daily_mcg": None if restart_ng is None else _mcg(restart_ng)}
        curve = clinical.csf_curve(ctl.prescription, args["hours"], ctl.ms, start_day=ctl.day)
        return {"note": curve["note"], "csf_ng_per_ml": [{"hour": m // 60, "ng_per_ml": c} for m, c in curve["samples"]]}

    def _card(self, args, now_s):
        return card.card(self.ctl, FIRMWARE_VERSION)

    def _version(self, args, now_s):
        return {"firmware": FIRMWARE_VERSION, "board": self.ctl.board.name}

    # ------------------------------------------------------ programming
    def _patient(self, args, now_s):
        """Who the pump treats. The titration and bolus history belongs to
        the patient: the same patient (an update of age or origin, the
        implant after the trial) keeps it; only new_patient, with a reason,
        resets it, and the log says so. When the rules that apply change
        (age, origin, a new patient), the running program must fit the
        drug library for the patient as now described: hard, the change is
        refused (the pump would run outside the library; lower the dose
        first); soft, it needs an override, logged."""
        ctl = self.ctl
        patient = {"origin": args["origin"], "age_years": args["age_years"],
                   "days_since_implant": args["days_since_implant"]}
        rx = ctl.prescription
        same_rules = (not args["new_patient"] and ctl.patient is not None and ctl.patient["origin"] == patient["origin"]
                      and ctl.patient["age_years"] == patient["age_years"])
        found = druglib.check_child(patient)
        if rx is not None and not same_rules:
            found = druglib.check_day_doses(rx, patient)
        decision = druglib.decide(found, args["override"])
        if not decision["accepted"]:
            _refuse(decision)
        if rx is not None and patient["days_since_implant"] is None:
            raise CommandError("refused", "a continuous program is set: it is not for a patient not yet implanted")
        steady_s = ctl.steady_s()
        history = ctl.history
        if args["new_patient"] or history is None:
            history = titration.TitrationHistory.for_patient(patient, steady_s, args["starting_ng_per_day"])
            history.dose_ng = rx.daily_ng() if rx is not None else None
        else:
            _update_history(history, patient, steady_s, args["starting_ng_per_day"])
        if args["new_patient"]:
            ctl.record(now_s, events.PATIENT_RESET, 0 if rx is None else 1)
            ctl.record_note(now_s, args["reason"])
        if decision["override_reason"]:
            ctl.record(now_s, events.PATIENT_OVERRIDE, len(decision["violations"]))
            ctl.record_note(now_s, decision["override_reason"])
        ctl.set_patient(patient, history)
        implant_s = history.implant_s
        return {"implant_days_ago": None if implant_s is None else (steady_s - implant_s) // S_PER_DAY,
                "starting_mcg_per_day": None if history.initial_ng is None else _mcg(history.initial_ng),
                "verdict": decision["verdict"]}

    def _set_prescription(self, args, now_s):
        ctl = self.ctl
        if ctl.patient is None or ctl.history is None:
            raise CommandError("no_patient", "set the patient first")
        if ctl.prescription is None and (ctl.bolus_end is not None or ctl.bolus_next is not None):
            # the first program starts delivery afresh, which would drop the
            # bolus or prime in flight and leave what it holds (the basal, a
            # stop to follow) held for good
            raise CommandError("bolus_running", "a bolus or prime is running: program when it is over")
        rx = Prescription(args["steps"]) if args["week"] is None else Prescription(week=args["week"])
        old = ctl.prescription
        found = druglib.check_prescription(rx, ctl.patient, ctl.reservoir.concentration_ng_per_ul,
                                           ctl.steps_per_ml, args.get("dilution", False))
        kind = args.get("kind") or titration.TITRATION
        steady_s = ctl.steady_s()
        # a refill "after" now is no refill within the day: a DS3231 that lost
        # its time at a reset puts the steady clock years before the record
        since_refill = None if ctl.refilled_s is None else steady_s - ctl.refilled_s
        if kind == titration.REFILL and (since_refill is None or not 0 <= since_refill <= REFILL_VISIT_S):
            raise CommandError("no_refill", "a refill-visit change needs a refill within the last day")
        old_week = None  # a weekly change compares day with same weekday (titration.check_week_change)
        if ctl.history.dose_ng is not None and (rx.weekly or (old is not None and old.weekly)):
            old_week = old.week_doses_ng() if old is not None else [ctl.history.dose_ng] * 7
        if not any(v.hard for v in found):
            if old_week is not None:
                found += titration.check_week_change(ctl.history, ctl.patient, old_week, rx.week_doses_ng(),
                                                     steady_s, kind)
            else:
                found += titration.check_change(ctl.history, ctl.patient, rx.daily_ng(), steady_s, kind)
        decision = druglib.decide(found, args.get("override"))
        if not decision["accepted"]:
            _refuse(decision)
        if ctl.history.dose_ng is None:
            ctl.history.record_first_program(rx.daily_ng(), steady_s)
        elif old_week is not None:
            titration.record_week_change(ctl.history, old_week, rx.week_doses_ng(), steady_s, kind)
        else:
            ctl.history.record_change(rx.daily_ng(), steady_s, kind)
        ctl.set_prescription(rx, now_s, decision)
        reply = program_reply(rx)
        reply["verdict"] = decision["verdict"]
        reply["catheter_suspected"] = decision["catheter_suspected"]
        return reply

    def _refill(self, args, now_s):
        """A refill; a new concentration must suit the running program (the
        flow ceiling and floor, the maintenance concentration) as
        programming it at that concentration would."""
        ctl = self.ctl
        reservoir = ctl.reservoir
        conc_ng_per_ml = args["concentration_ng_per_ml"]
        if conc_ng_per_ml % NG_PER_MCG:
            raise CommandError("bad_args", "concentration: whole mcg/mL only")
        conc = conc_ng_per_ml // NG_PER_MCG
        if ctl.bolus_end is not None:
            raise CommandError("bolus_running", "a bolus is running: refill when it is over")
        if ctl.prescription is not None:
            found = druglib.check_drug_for_program(ctl.prescription, conc, ctl.steps_per_ml, args["dilution"])
        else:
            found = druglib.check_concentration(conc, args["dilution"])
        decision = druglib.decide(found, args["override"])
        if not decision["accepted"]:
            _refuse(decision)
        old_conc = reservoir.concentration_ng_per_ul
        changed = old_conc not in (0, conc)
        volume_nl = args["add_nl"] if changed else reservoir.remaining_nl() + args["add_nl"]
        if not args["confirm"]:
            if changed:
                raise CommandError("confirm", "concentration changes from %d to %d mcg/mL: the residual is "
                                   "discarded and rates recomputed; confirm" % (reservoir.concentration_ng_per_ul, conc))
            if volume_nl > reservoir.capacity_nl:
                raise CommandError("confirm", "%.3f mL would exceed the %.3f mL reservoir; confirm"
                                   % (volume_nl / NL_PER_ML, reservoir.capacity_nl / NL_PER_ML))
        old_left = therapy.before_refill(ctl)
        # With the residual discarded, the fill went in before this line came:
        # what went out since (while it was checked, its counter written) left
        # the new fill. Otherwise remaining_nl has counted it already.
        gone = ctl.steps_out_since_command() if changed else 0
        ctl.refill(volume_nl, conc, now_s, gone)
        therapy.after_refill(ctl, old_conc, old_left)
        if decision["override_reason"]:
            ctl.record(now_s, events.OVERRIDE, len(decision["violations"]))
            ctl.record_note(now_s, decision["override_reason"])
        if ctl.line_drug is not None:
            ctl.save()  # the old drug in the line, counted from the refill
        return {"remaining_ml": _ml(reservoir.remaining_nl()), "concentration_mcg_per_ml": conc,
                "bridge": therapy.bridge_proposal(ctl) if changed and ctl.prescription is not None else None}

    def _bolus(self, args, now_s):
        """A bolus of its kind (pump.titration: screening, clinician,
        remainder), evenly over its duration on top of the basal; with
        `then`, a single bolus (pump.therapy): the basal waits, and
        stopped-pump mode or the schedule follows."""
        ctl = self.ctl
        then = args["then"]
        self._check_single(then)
        trial = ctl.history is not None and ctl.history.implant_s is None
        programmed_stop = then is not None and ctl.stop_mask == STOP_COMMAND
        if ctl.history is None or not (ctl.delivering or trial or programmed_stop) or (
                ctl.stop_mask and not programmed_stop):
            raise CommandError("not_delivering", "a bolus rides on running delivery (or is a screening bolus "
                               "before implant, or a single bolus from stopped-pump mode)")
        ng, duration_s, kind = args["ng"], args["duration_s"], args["kind"]
        conc = ctl.reservoir.concentration_ng_per_ul
        steady_s = ctl.steady_s()
        basal_ng = ctl.prescription.daily_ng() if ctl.prescription is not None else 0
        found = titration.check_bolus(ctl.history, ctl.patient, ng, steady_s, kind, duration_s, basal_ng, conc)
        decision = druglib.decide(found, args["override"])
        if not decision["accepted"]:
            _refuse(decision)
        least_ms = bolus_min_ms(ng, conc, ctl.bolus_rate_nl_per_h)
        if duration_s * 1000 < least_ms:
            raise CommandError("too_fast", "the mechanism needs at least %d s for %s mcg at %d mcg/mL"
                               % (-(-least_ms // 1000), druglib.mcg_text(ng), conc))
        ctl.history.record_bolus(ng, steady_s, kind, duration_s)
        if then is None:
            ctl.start_bolus(ng, duration_s * 1000)
        else:
            therapy.begin_single(ctl, ng, duration_s * 1000, args["reason"], now_s)
        ctl.record(now_s, events.BOLUS, ng, duration_s * 1000)
        if decision["override_reason"]:
            ctl.record(now_s, events.OVERRIDE, len(decision["violations"]))
            ctl.record_note(now_s, decision["override_reason"])
        ctl.save()
        return {"bolus_mcg": _mcg(ng), "kind": kind, "duration_s": duration_s, "then": then,
                "verdict": decision["verdict"]}

    def _check_single(self, then):
        """What a single bolus or a prime needs, besides the bolus rules: no
        bolus under way; a schedule to follow when one is to."""
        if self.ctl.bolus_end is not None:
            raise CommandError("bolus_running", "a bolus is running: wait until it is over")
        if then == "schedule" and self.ctl.prescription is None:
            raise CommandError("no_prescription", "then schedule: no schedule is programmed")

    def _prime(self, args, now_s):
        """Fill the line's dead volume at the bolus rate (pump.therapy): from
        a programmed stop, before the first program, or over the basal,
        which waits; not over a fault."""
        ctl = self.ctl
        self._check_single(args["then"])
        if ctl.stop_mask and ctl.stop_mask != STOP_COMMAND:
            raise CommandError("not_delivering", "stopped for %s: deal with it first"
                               % ", ".join(reason_names(ctl.stop_mask & ~STOP_COMMAND)))
        bolus_ng, _ms = therapy.prime_plan(ctl)
        line_nl = therapy.line_nl(ctl)
        if bolus_ng == 0:
            raise CommandError("no_drug", "prime: no drug in the reservoir, or no line volume")
        if ctl.reservoir.remaining_nl() <= line_nl:
            raise CommandError("too_little", "prime: %d uL in the reservoir for a %d uL line"
                               % (ctl.reservoir.remaining_nl() // 1000, line_nl // 1000))
        duration_ms = therapy.prime(ctl, args["reason"], now_s)
        return {"line_ul": line_nl / 1000, "duration_ms": duration_ms, "then": args["then"]}

    def _bridge(self, args, now_s):
        """Deliver the bridge a concentration-changing refill proposed (pump.therapy)."""
        ctl = self.ctl
        proposal = therapy.bridge_proposal(ctl)
        if proposal is None:
            raise CommandError("no_bridge", "no old drug in the line: nothing to bridge")
        if ctl.prescription is None:
            raise CommandError("no_prescription", "a bridge keeps a program's dose at the tip: program one")
        if proposal["bridging"]:
            raise CommandError("bridging", "the bridge is under way")
        if not args["confirm"]:
            raise CommandError("confirm", "%s uL of %d mcg/mL drug in the line: pushed at its own rate, the new "
                               "drug reaches the tip in %s h (without the bridge %s h at %d %% of the dose); "
                               "confirm" % (proposal["old_drug_ul"], proposal["old_mcg_per_ml"],
                                            proposal["with_bridge_h"], proposal["without_bridge_h"],
                                            proposal["without_bridge_tip_dose_pct"]))
        therapy.start_bridge(ctl, now_s)
        proposal["bridging"] = True
        return proposal

    def _stop(self, args, now_s):
        self.ctl.stop(STOP_COMMAND, now_s, args["reason"])
        return {"stopped_for": reason_names(self.ctl.stop_mask)}

    def _resume(self, args, now_s):
        ctl = self.ctl
        ctl.resume_by_command(now_s)
        return {"delivering": ctl.delivering, "stopped_for": reason_names(ctl.stop_mask)}

    def _ack(self, args, now_s):
        self.ctl.acknowledge()
        return {}

    def _silence(self, args, now_s):
        return {"silenced": self.ctl.alarms.silence(now_s)}

    def _settings(self, args, now_s):
        ctl = self.ctl
        low_nl = args["low_reservoir_nl"]
        low_days = args["low_reservoir_days"]
        settings = {"low_nl": ctl.settings["low_nl"] if low_nl is None else low_nl,
                    "low_days": ctl.settings["low_days"] if low_days is None else low_days}
        for key in ("catheter_cm", "catheter_nl_per_cm"):  # the line (pump.therapy)
            settings[key] = ctl.settings.get(key, 0) if args[key] is None else args[key]
        found = druglib.check_low_reservoir_warning(settings["low_days"] * S_PER_DAY)
        decision = druglib.decide(found)
        if not decision["accepted"]:
            _refuse(decision)
        ctl.apply_settings(settings, now_s)
        return {"line_ul": therapy.line_nl(ctl) / 1000}

    def _set_clock(self, args, now_s):
        try:
            self.ctl.set_clock(args["clock_s"])
        except OSError:
            raise CommandError("clock_fault", "the clock chip does not answer: the time is not set")
        return {}

    def _bench(self, args, now_s):
        if self.bench is None:  # only a board booted with the bench jumper ever gets here
            from pump.bench import BenchFaults
            self.bench = BenchFaults(self.ctl)
        fault = args["fault"]
        unit = BENCH_VALUE_UNITS.get(fault)
        return self.bench.inject(fault, args[unit] if unit else None, now_s)

    def _selftest(self, args, now_s):
        if (self.ctl.prescription is not None or self.ctl.bolus_end is not None) and not self.ctl.stop_mask & STOP_COMMAND:
            raise CommandError("not_stopped", "stop delivery before the self-test: it moves the motor")
        patterns = (("high", alarms.TONE_HIGH_MS), ("medium", alarms.TONE_MEDIUM_MS))
        return {"results": [list(item) for item in self.ctl.board.selftest(patterns)]}

    # name -> handler: every command of pump.schema's COMMANDS but `auth`,
    # which the protocol answers itself (host_tests/logic/test_command_table.py
    # checks the two name the same commands). A table rather than a name
    # looked up on self, so no other method can be reached by a command name.
    HANDLERS = {
        "status": _status, "prescription": _prescription, "reservoir": _reservoir, "alarms": _alarms,
        "log": _log, "version": _version, "card": _card, "plan": _plan,
        "patient": _patient, "set_prescription": _set_prescription, "refill": _refill, "bolus": _bolus,
        "prime": _prime, "bridge": _bridge, "stop": _stop, "resume": _resume, "ack": _ack, "silence": _silence,
        "settings": _settings, "set_clock": _set_clock, "bench": _bench, "selftest": _selftest,
    }


_COMMAND_CODES = {name: i + 1 for i, name in enumerate(events.COMMAND_NAMES)}
