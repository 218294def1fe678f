"""The sequence test's checker catches what it claims to: each invariant,
shown a pump broken on purpose in the way it guards against, breaks.

A checker that cannot fail proves nothing; these sabotage one part of the
pump at a time (monkeypatched for one test) and run a short sequence that
must then break exactly that invariant, whatever seqcheck.PENDING says.
"""
import pytest

import seqcheck
from pump import controller, druglib, titration
from pump.reservoir import Reservoir
from seqcheck import Broken
from seqrules import Sequence

SETUP = {"origin": "spinal", "age": 40, "days_since_implant": 400, "concentration": 500, "fill_ml": 20,
         "dose_permille": 500, "night_step": False, "start_hour": 8, "seed": 1, "calibration_error_ppm": 0}


@pytest.fixture(autouse=True)
def every_check_enabled(monkeypatch):
    monkeypatch.setattr(seqcheck, "PENDING", {})


def started():
    sequence = Sequence(SETUP)
    sequence.start()
    return sequence


def broken_by(steps):
    sequence = started()
    with pytest.raises(Broken) as caught:
        for name, args in steps:
            getattr(sequence, name)(**args)
    return caught.value


def test_a_pump_that_never_sounds_is_a_silent_stop(monkeypatch):
    monkeypatch.setattr(controller.Controller, "_annunciate", lambda self, now_s: None)
    found = broken_by([("stop", {"reason": "overdose"}), ("wait", {"unit_ms": 60_000, "times": 30})])
    assert found.check == "silent_stop"


def test_a_daily_dose_check_that_passes_everything_lets_a_hard_limit_through(monkeypatch):
    monkeypatch.setattr(druglib, "check_daily_dose", lambda daily_ng, patient: [])
    found = broken_by([("set_prescription", {"pct": 0, "absolute": 125.0, "shape": "flat", "kind": None,
                                             "override": "responder", "dilution": False})])
    assert found.check == "hard_limit.prescription"


def test_titration_rules_that_pass_everything_break_a_24_h_rule(monkeypatch):
    monkeypatch.setattr(titration, "check_change", lambda *args: [])
    found = broken_by([("set_prescription", {"pct": 20, "absolute": None, "shape": "flat", "kind": None,
                                             "override": None, "dilution": False}),
                       ("set_prescription", {"pct": 20, "absolute": None, "shape": "flat", "kind": None,
                                             "override": None, "dilution": False})])
    assert found.check == "day_rule.increase_after_increase"


def test_an_override_that_is_not_logged_breaks_the_soft_rule(monkeypatch):
    monkeypatch.setattr(controller.Controller, "record_note", lambda self, now_s, text: None)
    found = broken_by([("set_prescription", {"pct": -40, "absolute": None, "shape": "flat", "kind": None,
                                             "override": "side effects, per Dr. Ng", "dilution": False})])
    assert found.check == "soft_limit.not_logged"


def test_an_estimate_that_counts_a_step_too_few_is_above_the_truth(monkeypatch):
    use = Reservoir.use
    monkeypatch.setattr(Reservoir, "use", lambda self, steps: use(self, steps - 1 if steps > 0 else steps))
    found = broken_by([("wait", {"unit_ms": 60_000, "times": 30})])
    assert found.check == "reservoir"


def test_a_pacer_that_runs_fast_over_delivers(monkeypatch):
    segment_num = controller.segment_num
    monkeypatch.setattr(controller, "segment_num", lambda rate, spm: segment_num(rate, spm) * 11 // 10)
    found = broken_by([("wait", {"unit_ms": 600_000, "times": 6})])
    assert found.check == "over_delivery"
