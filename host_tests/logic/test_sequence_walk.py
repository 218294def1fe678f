"""The generated-sequence rules, walked with a seeded PRNG, on both interpreters.

The same rules as the hypothesis state machine (host_tests/test_sequences.py),
drawn by hw.sim.rng's xorshift so that a seed gives the same walk under
CPython and under the MicroPython unix port (tools/mptest.py runs this file
there); every invariant of seqcheck is checked at every wake-up and event.
A broken invariant prints the walk as a scenario file for tools/sim.py.
"""
# micropython-heap: 640K
# (the simulated board, the pump and the checker's record of the last hour,
# and the checker's reads of the event log: at 512K a clone in another folder
# ran out, its longer paths enough to tip a fragmented heap)
import json

from seqcheck import Broken
from seqrules import walk

WALKS = 8
STEPS = 50


def fingerprint(sequence):
    """What a walk came to, in integers both interpreters must agree on."""
    run, watch = sequence.run, sequence.run.watch
    mech = run.board.mechanism
    return [sequence.t, len(sequence.events), run.wakes, run.restarts, mech.to_patient_steps,
            mech.reservoir_steps, run.ctl.reservoir.remaining_steps(), run.ctl.log.count,
            watch.prescribed_all, watch.delivered, len(run.board.buzzer)]


def walks(first_seed, count):
    """Fingerprints of `count` walks; the first broken invariant is raised
    after printing its walk as a scenario."""
    found = []
    for seed in range(first_seed, first_seed + count):
        try:
            found.append(fingerprint(walk(seed, STEPS)))
        except Broken as exc:
            print("seed %d broke %s; as a scenario:" % (seed, exc.check))
            print(json.dumps(exc.sequence.scenario(str(exc))))
            raise
    return found


def test_seeded_walks_of_the_sequence_rules_keep_every_enabled_promise():
    assert len(walks(1, WALKS)) == WALKS
