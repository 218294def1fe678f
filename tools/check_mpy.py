"""Compile every board-side file with mpy-cross for the RP2040 (armv6m).

Board-side means firmware/, hw/ (except hw/sim/, which only runs on hosts)
and boards/ (except manifest.py files, which are build scripts). A file that
does not compile here would fail on the board, so this runs first in CI.
Prints the total .mpy size, which is what a frozen build or a deploy carries.
"""
import os
import subprocess
import sys
import tempfile

from mpenv import ROOT, mpy_cross, source_files

def board_files():
    """What goes on the board: hw/sim/ only ever runs on hosts."""
    return [rel for rel in source_files() if not rel.startswith(os.path.join("hw", "sim") + os.sep)]


def compile_all(out_dir):
    """Returns (total .mpy bytes, list of (file, error))."""
    total, errors = 0, []
    for rel in board_files():
        out = os.path.join(out_dir, rel[:-3] + ".mpy")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        result = subprocess.run([mpy_cross(), "-march=armv6m", "-o", out, rel],
                                cwd=ROOT, capture_output=True, text=True)
        if result.returncode:
            errors.append((rel, (result.stderr or result.stdout).strip().splitlines()[-1]))
        else:
            total += os.path.getsize(out)
    return total, errors


def main():
    with tempfile.TemporaryDirectory() as out_dir:
        total, errors = compile_all(out_dir)
    for rel, error in errors:
        print("mpy-cross rejects %s: %s" % (rel, error))
    count = len(board_files())
    print("mpy-cross -march=armv6m: %d files, %d compiled, %d bytes of .mpy" % (count, count - len(errors), total))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
