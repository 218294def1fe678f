"""What each protocol command does to the pump.

pump.protocol has already framed, authenticated and converted the command
(integer units, every field present); this is the handler it dispatches to.
Clinical checks happen here, through the drug library and the titration
history, so every way of programming the pump (serial, scenario, bench)
meets the same rules. A refusal raises CommandError listing every rule
broken; nothing changes on a refusal.
"""
from pump import alarms, card, clinical, druglib, events, stopped, titration
from pump.prescription import Prescription
from pump.protocol import Protocol
from pump.schema import CommandError, needs_mac
from pump.stops import STOP_COMMAND, STOP_OCCLUSION, STOP_STALL, reason_names
from pump.units import NG_PER_MCG, NL_PER_ML, S_PER_DAY, WEEKDAY_NAMES, clock_s_to_iso, ms_to_hhmm

FIRMWARE_VERSION = "0.1.0"
REFILL_VISIT_S = 24 * 3600  # a refill-visit change must follow a refill within a day
# What the protocol reports (pump.protocol on_event) -> (log code, detail field for a).
# bench_fault is logged by _bench itself, with what was forced; a failed counter
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
        self.ctl.counter = value
        if not self.ctl.save():
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


def _when(clock_s):
    return None if clock_s is None else clock_s_to_iso(clock_s)


class Commands:
    def __init__(self, ctl, key):
        self.ctl = ctl
        self.protocol = Protocol(self, key, _CounterStore(ctl), ctl.board.bench_enabled,
                                 self._on_protocol_event)
        self.refilled_s = None

    def handle_line(self, line, now_s, truncated=False):
        return self.protocol.handle_line(line, now_s, truncated)

    def execute(self, name, args, now_s):
        reply = getattr(self, "_" + name)(args, now_s)
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
                 "time": clock_s_to_iso(now_s)}
        reply.update(stopped.stop_report(ctl))
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
                "low_at_ml": _ml(reservoir.low_threshold_steps * NL_PER_ML // reservoir.steps_per_ml),
                "empty_in_h": None if to_empty is None else to_empty // 3_600_000}

    def _alarms(self, args, now_s):
        am = self.ctl.alarms
        return {"active": [alarms.KIND_NAMES[k] for k in range(alarms.KIND_COUNT) if am.active(k)],
                "history": [{"kind": alarms.KIND_NAMES[e.kind], "priority": alarms.PRIORITY_NAMES[e.priority],
                             "raised": _when(e.raised_s), "acknowledged": _when(e.acknowledged_s),
                             "cleared": _when(e.cleared_s), "escalated": _when(e.escalated_s)}
                            for e in am.history]}

    def _log(self, args, now_s):
        """Newest first; a note (NOTE entries, logged after the entry they
        explain) is joined back into the entry it belongs to."""
        entries, note = [], []
        for seq, t, code, a, b in self.ctl.log.newest(args["n"]):
            if code == events.NOTE:
                note.append((a, b))
                continue
            entry = {"seq": seq, "time": clock_s_to_iso(t), "event": events.NAMES.get(code, str(code)),
                     "detail": events.describe(code, a, b)}
            if note:
                entry["note"] = events.note_text(reversed(note))
                note = []
            entries.append(entry)
        return {"entries": entries}

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
        if ctl.prescription is None or ctl.history is None:
            raise CommandError("no_prescription", "plan %s works from the programmed prescription" % what)
        if what == "taper":
            try:
                plan = clinical.holiday_taper(ctl.prescription.daily_ng(), args["days"], ctl.patient,
                                              ctl.history.initial_ng)
            except ValueError as exc:
                raise CommandError("bad_args", str(exc))
            return {"taper": [{"day": day, "daily_mcg": _mcg(ng)} for day, ng in plan["taper"]],
                    "restart_daily_mcg": _mcg(plan["restart"]["daily_ng"])}
        curve = clinical.csf_curve(ctl.prescription, args["hours"], ctl.ms, start_day=ctl.day)
        return {"note": curve["note"], "csf_ng_per_ml": [{"hour": m // 60, "ng_per_ml": c} for m, c in curve["samples"]]}

    def _card(self, args, now_s):
        return card.card(self.ctl, FIRMWARE_VERSION)

    def _version(self, args, now_s):
        return {"firmware": FIRMWARE_VERSION, "board": self.ctl.board.name}

    # ------------------------------------------------------ programming
    def _patient(self, args, now_s):
        patient = {"origin": args["origin"], "age_years": args["age_years"],
                   "days_since_implant": args["days_since_implant"]}
        found = druglib.check_child(patient)
        decision = druglib.decide(found)
        if not decision["accepted"]:
            _refuse(decision)
        self.ctl.patient = patient
        self.ctl.history = None  # a new patient: titration starts from the next prescription
        self.ctl.save()
        return {}

    def _set_prescription(self, args, now_s):
        ctl = self.ctl
        if ctl.patient is None:
            raise CommandError("no_patient", "set the patient first")
        rx = Prescription(args["steps"]) if args["week"] is None else Prescription(week=args["week"])
        old = ctl.prescription
        found = druglib.check_prescription(rx, ctl.patient, ctl.reservoir.concentration_ng_per_ul,
                                           ctl.steps_per_ml, args.get("dilution", False))
        kind = args.get("kind") or titration.TITRATION
        if kind == titration.REFILL and (self.refilled_s is None or now_s - self.refilled_s > REFILL_VISIT_S):
            raise CommandError("no_refill", "a refill-visit change needs a refill within the last day")
        old_week = None  # a weekly change compares day with same weekday (titration.check_week_change)
        if ctl.history is not None and (rx.weekly or (old is not None and old.weekly)):
            old_week = old.week_doses_ng() if old is not None else [ctl.history.dose_ng] * 7
        if ctl.history is not None and not any(v.hard for v in found):
            if old_week is not None:
                found += titration.check_week_change(ctl.history, ctl.patient, old_week, rx.week_doses_ng(),
                                                     now_s, kind)
            else:
                found += titration.check_change(ctl.history, ctl.patient, rx.daily_ng(), now_s, kind)
        decision = druglib.decide(found, args.get("override"))
        if not decision["accepted"]:
            _refuse(decision)
        if ctl.history is None:
            ctl.history = titration.TitrationHistory.from_patient(ctl.patient, now_s, rx.daily_ng())
        elif old_week is not None:
            titration.record_week_change(ctl.history, old_week, rx.week_doses_ng(), now_s, kind)
        else:
            ctl.history.record_change(rx.daily_ng(), now_s, kind)
        ctl.set_prescription(rx, now_s, decision)
        reply = program_reply(rx)
        reply["verdict"] = decision["verdict"]
        reply["catheter_suspected"] = decision["catheter_suspected"]
        return reply

    def _refill(self, args, now_s):
        ctl = self.ctl
        reservoir = ctl.reservoir
        conc_ng_per_ml = args["concentration_ng_per_ml"]
        if conc_ng_per_ml % NG_PER_MCG:
            raise CommandError("bad_args", "concentration: whole mcg/mL only")
        conc = conc_ng_per_ml // NG_PER_MCG
        decision = druglib.decide(druglib.check_concentration(conc, args.get("dilution", False)))
        if not decision["accepted"]:
            _refuse(decision)
        changed = reservoir.concentration_ng_per_ul not in (0, conc)
        volume_nl = args["add_nl"] if changed else reservoir.remaining_nl() + args["add_nl"]
        if not args["confirm"]:
            if changed:
                raise CommandError("confirm", "concentration changes from %d to %d mcg/mL: the residual is "
                                   "discarded and rates recomputed; confirm" % (reservoir.concentration_ng_per_ul, conc))
            if volume_nl > reservoir.capacity_nl:
                raise CommandError("confirm", "%.3f mL would exceed the %.3f mL reservoir; confirm"
                                   % (volume_nl / NL_PER_ML, reservoir.capacity_nl / NL_PER_ML))
        ctl.refill(volume_nl, conc, now_s)
        self.refilled_s = now_s
        return {"remaining_ml": _ml(reservoir.remaining_nl()), "concentration_mcg_per_ml": conc}

    def _bolus(self, args, now_s):
        ctl = self.ctl
        if not ctl.delivering or ctl.history is None:
            raise CommandError("not_delivering", "a bolus rides on running delivery")
        found = titration.check_bolus(ctl.history, args["ng"], now_s)
        found += [v for v in druglib.check_daily_dose(ctl.prescription.daily_ng() + args["ng"], ctl.patient)
                  if v.hard]
        decision = druglib.decide(found, args.get("override"))
        if not decision["accepted"]:
            _refuse(decision)
        ctl.history.record_bolus(args["ng"], now_s)
        duration_ms = ctl.start_bolus(args["ng"])
        ctl.record(now_s, events.BOLUS, args["ng"], duration_ms)
        if decision["override_reason"]:
            ctl.record(now_s, events.OVERRIDE, len(decision["violations"]))
            ctl.record_note(now_s, decision["override_reason"])
        ctl.save()
        return {"bolus_mcg": _mcg(args["ng"]), "duration_s": duration_ms // 1000}

    def _stop(self, args, now_s):
        self.ctl.stop(STOP_COMMAND, now_s, args["reason"])
        return {"stopped_for": reason_names(self.ctl.stop_mask)}

    def _resume(self, args, now_s):
        ctl = self.ctl
        reasons = STOP_COMMAND | STOP_STALL
        if not ctl.alarms.condition_present(alarms.OCCLUSION):
            reasons |= STOP_OCCLUSION
        ctl.resume(reasons, now_s)
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
        found = druglib.check_low_reservoir_warning(settings["low_days"] * S_PER_DAY)
        decision = druglib.decide(found)
        if not decision["accepted"]:
            _refuse(decision)
        ctl.settings = settings
        ctl.refresh_limits()
        ctl.record(now_s, events.SETTINGS, settings["low_nl"], settings["low_days"])
        ctl.save()
        return {}

    def _set_clock(self, args, now_s):
        new_s = args["clock_s"]
        self.ctl.board.clock.set(new_s // S_PER_DAY, new_s % S_PER_DAY * 1000)
        self.ctl.record(now_s, events.CLOCK_SET, now_s, new_s)
        return {}

    def _bench(self, args, now_s):
        self.ctl.board.inject(args["fault"], args["mpsi"])
        self.ctl.record(now_s, events.BENCH_FAULT, events.BENCH_FAULTS.index(args["fault"]), args["mpsi"] or 0)
        return {"injected": args["fault"]}

    def _selftest(self, args, now_s):
        if self.ctl.prescription is not None and not self.ctl.stop_mask & STOP_COMMAND:
            raise CommandError("not_stopped", "stop delivery before the self-test: it moves the motor")
        patterns = (("high", alarms.TONE_HIGH_MS), ("medium", alarms.TONE_MEDIUM_MS))
        return {"results": [list(item) for item in self.ctl.board.selftest(patterns)]}


_COMMAND_CODES = {name: i + 1 for i, name in enumerate(events.COMMAND_NAMES)}
