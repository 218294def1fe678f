"""Every benchmark, one after the other: `make bench`, or

    .venv/bin/python bench/run_all.py [--quick]

Each script runs in its own interpreter, exactly as when run alone, and
prints its own tables; this adds a heading and the wall time of each.
Exits 1 if any of them failed (protocol_fuzz.py fails when it sees an
exception or an unauthenticated change). With --quick each script runs at
a small size (bench/common.py), to show it still runs; the test suite does
that.
"""
import os
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = ("sim_speed.py", "dose_accuracy.py", "trumpet.py", "heap.py", "flash_wear.py", "occlusion.py",
           "wakeups.py", "protocol_fuzz.py")


def main(extra):
    failed = []
    started = time.perf_counter()
    for name in SCRIPTS:
        print("=== bench/%s" % name, flush=True)
        began = time.perf_counter()
        status = subprocess.call([sys.executable, os.path.join(BENCH, name)] + extra, cwd=os.path.dirname(BENCH))
        verdict = "" if status == 0 else ", FAILED (%d)" % status
        print("--- %s: %.1f s%s\n" % (name, time.perf_counter() - began, verdict), flush=True)
        if status:
            failed.append(name)
    print("All benchmarks: %.1f s%s" % (time.perf_counter() - started,
                                         "; failed: " + ", ".join(failed) if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(["--quick"] if "--quick" in sys.argv[1:] else []))
