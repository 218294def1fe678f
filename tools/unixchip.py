"""What the RP2040 does around main.py, for the MicroPython unix port behind a pty.

    python tools/unixchip.py FOLDER [--heap 512K]

tools/simboard.py runs this under socat, on the far end of its pty, so the
pty outlives what runs on it as a board's USB port outlives its firmware.
FOLDER is the stand-in board's filesystem. Like the chip's boot:

- main.py runs in FOLDER;
- when it ends with the simulated board's designed reset (its exit status
  RESET_EXIT: the firmware logged a crash and asked for a reset), or is
  killed by a signal (a power cut), it runs again after RESET_S, and the
  pump comes back with its restart alarm;
- when it ends any other way (Ctrl-C in service mode, a failure there),
  MicroPython's REPL follows, FOLDER mounted as '/', where mpremote works
  (raw REPL, fs, exec), as after main.py on the chip;
- when the REPL ends (Ctrl-D at the prompt: a soft reset), main.py runs again.

Each "boot" is a fresh unix-port process on the same pty. SIGTERM (socat
stopping) ends the running one and this.
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

import mpenv

mpenv.add_to_sys_path()
from boards.sim.realtime import RESET_EXIT  # noqa: E402

RESET_S = 0.5  # a reset and the boot that follows it
REPL_BOOT = """
import os, sys, vfs
vfs.mount(vfs.VfsPosix(%r), '/')
os.chdir('/')
sys.path[:] = ['', '.frozen', '/lib']
"""


def stop(_signum, _frame):
    raise SystemExit(0)


def supervise(root, heap, boot_script):
    """Boot, reset, REPL, boot... until SIGTERM."""
    with open(boot_script, "w") as f:
        f.write(REPL_BOOT % root)
    firmware = mpenv.micropython_command(heap) + ["main.py"]
    repl = mpenv.micropython_command(heap) + ["-i", boot_script]
    child = None
    try:
        while True:
            child = subprocess.Popen(firmware, cwd=root)
            status = child.wait()
            if status == RESET_EXIT or status < 0:
                time.sleep(RESET_S)
                continue
            child = subprocess.Popen(repl, cwd=root)
            child.wait()
    finally:
        if child is not None and child.poll() is None:
            child.terminate()
            child.wait()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="the stand-in board's filesystem, with main.py deployed")
    parser.add_argument("--heap", default="512K", help="the unix port's heap (default 512K)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    with tempfile.TemporaryDirectory() as tmp:
        supervise(os.path.abspath(args.folder), args.heap, os.path.join(tmp, "boot.py"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
