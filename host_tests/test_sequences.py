"""The pump's safety promises hold under any sequence of commands, faults,
button presses, power cuts, clock changes and time (hypothesis, CPython).

The rules and the invariants are shared with the seeded walk that runs under
MicroPython (host_tests/logic/seqrules.py, seqcheck.py): here each rule of
seqrules.RULES becomes a RuleBasedStateMachine rule (as many copies as its
weight, so hypothesis draws it as often as the walk does), its arguments
drawn from the same specs. The invariants are checked by CheckedRun at every
wake-up and event, and once more after each step.

When an invariant breaks, the shrunk sequence is printed as a scenario file
(and written to build/sequence-failure.json): `python tools/sim.py FILE`
replays it, and CheckedRun(normalise(FILE)).run() breaks the same invariant.

Profiles (HYPOTHESIS_PROFILE): `ci` (the default) runs 2000 sequences of 50
steps, as two halves of 1000 with seeds of their own (pytest-xdist runs them
on two cores at once), without an example database, so CI is repeatable;
`dev` draws 2 x 500 new sequences on every run.
"""
import json
import os
import subprocess
import sys

from hypothesis import HealthCheck, Phase, seed, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

import seqcheck
from seqcheck import Broken
from seqrules import RULES, SETUP, Sequence

STEPS = 50
# Copies of a rule make hypothesis draw it more often (it picks among rules
# evenly). Each copy costs a feature flag per step, so only time, which every
# hazard needs to show, gets more than one.
COPIES = {"wait": 2}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAILURE_PATH = os.path.join(ROOT, "build", "sequence-failure.json")

settings.register_profile("ci", max_examples=1000, stateful_step_count=STEPS, derandomize=True, database=None,
                          deadline=None, print_blob=False,
                          phases=(Phase.generate, Phase.shrink),
                          suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large,
                                                 HealthCheck.filter_too_much))
settings.register_profile("dev", settings.get_profile("ci"), derandomize=False, max_examples=500)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")


def strategy(spec):
    if spec[0] == "int":
        return st.integers(spec[1], spec[2])
    return st.sampled_from(spec[1])


def _scenario_text(sequence, exc):
    """The failing sequence as a scenario file, saved and returned as text."""
    text = json.dumps(sequence.scenario(str(exc)), indent=1)
    os.makedirs(os.path.dirname(FAILURE_PATH), exist_ok=True)
    with open(FAILURE_PATH, "w") as f:
        f.write(text + "\n")
    return text


_FAILURES = {}


def _failure(check):
    """One exception class per check: hypothesis tells failures apart by
    their type, so each broken check is shrunk and reported on its own."""
    if check not in _FAILURES:
        _FAILURES[check] = type("Broken_" + check.replace(".", "__"), (AssertionError,), {"check": check})
    return _FAILURES[check]


class PumpSequences(RuleBasedStateMachine):
    sequence = None

    @initialize(**dict((name, strategy(spec)) for name, spec in SETUP))
    def program_the_pump(self, **setup):
        self.sequence = Sequence(setup)
        self._guarded(self.sequence.start)

    def _guarded(self, action):
        try:
            action()
        except Broken as exc:
            text = "%s\nreplay it: python tools/sim.py %s\n%s" % (
                exc, FAILURE_PATH, _scenario_text(self.sequence, exc))
            raise _failure(exc.check)(text) from None


def _add_rule(name, copy, arg_specs):
    def step(self, **args):
        self._guarded(lambda: getattr(self.sequence, name)(**args))
    step.__name__ = "%s_%d" % (name, copy) if copy else name
    setattr(PumpSequences, step.__name__, rule(**dict((arg, strategy(spec)) for arg, spec in arg_specs))(step))


for _name, _weight, _args in RULES:
    for _copy in range(COPIES.get(_name, 1)):
        _add_rule(_name, _copy, _args)



def _half(number):
    """One half of the run: the same machine under its own name and, in the
    `ci` profile, its own seed (a derandomized stateful test draws from one
    seed whatever the machine, so two halves would repeat each other)."""
    machine = type("PumpSequences%d" % number, (PumpSequences,), {})
    if PROFILE == "ci":
        machine = seed(number)(machine)
    machine.TestCase.settings = settings.get_profile(PROFILE)
    return machine.TestCase


test_safety_holds_under_any_sequence_1 = _half(1)
test_safety_holds_under_any_sequence_2 = _half(2)


def test_a_sequence_is_the_scenario_file_it_prints(monkeypatch):
    """What a failure prints is what ran: tools/scenario.py normalises the
    printed file to the very setup and events the sequence ran, CheckedRun
    replays it to the same end, and tools/sim.py runs it. (Every check is
    set pending here, so each walk runs its 50 steps whatever the pump's
    defects: this is about the replay, not about the pump.)"""
    from scenario import normalise
    from seqcheck import CheckedRun
    from seqrules import walk
    from test_sequence_walk import STEPS, fingerprint

    for invariant in ("silent_stop", "hard_limit", "soft_limit", "day_rule", "reservoir", "over_delivery"):
        monkeypatch.setitem(seqcheck.PENDING, invariant, "replay test")
    for seed in (1, 2, 3):
        sequence = walk(seed, STEPS)
        raw = json.loads(json.dumps(sequence.scenario("seed %d" % seed)))
        replay = normalise(raw)
        assert replay["events"] == sequence.run.events and replay["setup"] == sequence.normalised["setup"]
        rerun = CheckedRun(replay)
        rerun.run()
        assert fingerprint(_Replayed(sequence.t, len(sequence.events), rerun)) == fingerprint(sequence)
    path = os.path.join(os.path.dirname(FAILURE_PATH), "sequence-replay.json")
    with open(path, "w") as f:
        json.dump(raw, f)
    done = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "sim.py"), path, "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and json.loads(done.stdout)["wake_ups"] > 0, done.stderr


class _Replayed:
    """A replayed run in the shape fingerprint() reads."""

    def __init__(self, t, events, run):
        self.t, self.events, self.run = t, [None] * events, run
