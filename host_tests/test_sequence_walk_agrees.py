"""The seeded walk of the sequence rules comes out the same, to the bit, on
CPython and on the MicroPython unix port (same steps, same pulses, same
flash writes, same checker record): so the walk CI runs under MicroPython
is the walk CPython checks, and a scenario printed by either replays on both."""
import json
import subprocess

import mpenv
from test_sequence_walk import walks

SEEDS = (1, 4)  # first seed, count


def test_the_walk_agrees_on_both_interpreters():
    mpenv.build_mpy()
    script = "import json, test_sequence_walk as w; print(json.dumps(w.walks(%d, %d)))" % SEEDS
    result = subprocess.run(mpenv.micropython_command("640K") + ["-c", script], cwd=mpenv.ROOT,
                            env=mpenv.micropython_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    on_micropython = json.loads(result.stdout.strip().splitlines()[-1])
    assert on_micropython == walks(*SEEDS)
    assert all(fingerprint[1] > 0 for fingerprint in on_micropython)  # the walks did things
