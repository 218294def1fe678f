"""Runs the shared pump-logic tests under the MicroPython unix port.

The unix port has no unittest and no pytest, so the shared tests are plain
`test_*` functions that assert; this runner imports every module in
host_tests/logic and calls them, as pytest does on CPython. It is started by
tools/mptest.py with an RP2040-sized heap. Usage (from the repo root):

    micropython -X heapsize=160K host_tests/mp_runner.py [module ...]

tools/mptest.py starts one interpreter per module, as a board boots fresh.
"""
import gc
import os
import sys

LOGIC_DIR = "host_tests/logic"


def test_modules(filters):
    names = sorted(n[:-3] for n in os.listdir(LOGIC_DIR)
                   if n.startswith("test_") and n.endswith(".py"))
    return [n for n in names if not filters or n in filters]


def run_module(name, failures):
    try:
        module = __import__(name)
    except Exception as exc:  # a module that does not import is a failure, not a crash
        failures.append("%s: import: %s: %s" % (name, type(exc).__name__, exc))
        sys.print_exception(exc)
        return 0
    passed = 0
    for attr in sorted(dir(module)):
        if not attr.startswith("test_"):
            continue
        test = getattr(module, attr)
        if not callable(test):
            continue
        try:
            test()
            passed += 1
        except Exception as exc:  # a failing test, reported and counted
            failures.append("%s.%s: %s: %s" % (name, attr, type(exc).__name__, exc))
            sys.print_exception(exc)
        gc.collect()
    return passed


def main(filters):
    failures = []
    passed = 0
    for name in test_modules(filters):
        passed += run_module(name, failures)
        sys.modules.pop(name, None)
        gc.collect()
    for line in failures:
        print("FAILED", line)
    print("micropython: %d passed, %d failed" % (passed, len(failures)))
    return 1 if failures else 0


sys.exit(main(sys.argv[1:]))
