"""The benchmark scripts still run (they print figures; nothing here judges
them): a benchmark that rots unnoticed would leave the README's figures
without a command that measures them. They run at their --quick sizes: the
full run (`make bench`) takes many minutes and measures; this one checks."""
import os
import subprocess
import sys

from mpenv import ROOT


def test_every_benchmark_script_runs_to_the_end():
    result = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run_all.py"), "--quick"],
                            cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "failed:" not in result.stdout.splitlines()[-1]
    assert "unauthenticated changes        0" in result.stdout
