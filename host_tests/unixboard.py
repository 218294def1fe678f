"""A MicroPython unix port standing in for a board, behind a pty (socat).

Two ways it runs: as a bare board at its REPL, whose root is a folder
(mpremote deploys into it as into a Pico), and running the deployed
firmware/main.py there on the simulated board in real time, its USB serial
being the pty (pumpctl talks to it). Needs socat (Debian package `socat`).
"""
import contextlib
import os
import shutil
import subprocess
import time

import pytest

import mpenv

needs_socat = pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed")

REPL_BOOT = """
import os, sys, vfs
vfs.mount(vfs.VfsPosix(%r), '/')
os.chdir('/')
sys.path[:] = ['', '.frozen', '/lib']
"""


@contextlib.contextmanager
def behind_pty(command, port, cwd=None):
    """Run `command` (a string) behind a pty linked at `port`; yield the port."""
    socat = subprocess.Popen(["socat", "PTY,link=%s,rawer" % port, "EXEC:%s,pty,stderr,rawer" % command],
                             cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield str(port)
    finally:
        socat.terminate()
        socat.wait(timeout=10)


def repl_board(root, port, boot_script):
    """A bare board at its REPL, its '/' the folder `root`."""
    with open(boot_script, "w") as f:
        f.write(REPL_BOOT % str(root))
    return behind_pty(" ".join(mpenv.micropython_command()) + " -i " + str(boot_script), port)


def running_firmware(root, port, heap="512K"):
    """The deployed main.py running in `root`, as the board would boot it."""
    return behind_pty(" ".join(mpenv.micropython_command(heap)) + " main.py", port, cwd=str(root))
