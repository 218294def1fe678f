"""A pump without a board: the MicroPython unix port standing in for one.

    python tools/simboard.py FOLDER --key KEY_FILE [--speed 60] [--port /tmp/ttyPump]

deploys the firmware with the real mpremote (tools/deploy.py --board sim)
into FOLDER, the stand-in board's filesystem, then boots its main.py there on
the simulated board, in real time times --speed, behind a pty: talk to it
with `tools/pumpctl.py --port /tmp/ttyPump --key-file KEY_FILE ...` or
`tools/bench.py board ...`, exactly as to a Pico. Ctrl-C or a plain `kill`
stops it, with socat, the unix port and the pty link; the pump's records stay
in FOLDER/data for the next boot. A --port path that already exists is
refused: another simulated board may own it. Needs socat (Debian).
"""
import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import deploy
import mpenv

REPL_BOOT = """
import os, sys, vfs
vfs.mount(vfs.VfsPosix(%r), '/')
os.chdir('/')
sys.path[:] = ['', '.frozen', '/lib']
"""


class PortInUse(Exception):
    pass


def refuse_taken(port):
    """socat would silently replace the link at `port`, cutting off whoever
    talks to the board behind it; and the wait for the link would see the
    old one. A link left by a killed socat dangles, hence lexists."""
    if os.path.lexists(port):
        raise PortInUse("in use: %s, or a stale link: remove it" % port)


def interrupt(_signum, _frame):
    """SIGTERM as Ctrl-C: the `with` blocks then stop socat (which ends the
    unix port and removes the link), rather than the process dying around them."""
    raise KeyboardInterrupt


@contextlib.contextmanager
def behind_pty(command, port, cwd=None):
    """Run `command` (a string) behind a pty linked at `port`; yield the port."""
    refuse_taken(port)
    socat = subprocess.Popen(["socat", "PTY,link=%s,rawer" % port, "EXEC:%s,pty,stderr,rawer" % command],
                             cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        yield str(port)
    finally:
        socat.terminate()
        socat.wait(timeout=10)


def repl_board(root, port, boot_script):
    """A bare board at its REPL (what mpremote talks to), its '/' the folder `root`."""
    with open(boot_script, "w") as f:
        f.write(REPL_BOOT % str(root))
    return behind_pty(" ".join(mpenv.micropython_command()) + " -i " + str(boot_script), port)


def running_firmware(root, port, heap="512K"):
    """The deployed main.py running in `root`, as the board boots it."""
    return behind_pty(" ".join(mpenv.micropython_command(heap)) + " main.py", port, cwd=str(root))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="the stand-in board's filesystem (created if missing)")
    parser.add_argument("--key", required=True, help="device key file (tools/deploy.py --new-key makes one)")
    parser.add_argument("--speed", type=int, default=60, help="simulated seconds per real second (default 60)")
    parser.add_argument("--port", default="/tmp/ttyPump", help="where the pty appears (default /tmp/ttyPump)")
    args = parser.parse_args(argv)
    previous_sigterm = signal.signal(signal.SIGTERM, interrupt)
    try:
        refuse_taken(args.port)   # before the deploy, not after it
        root = os.path.abspath(args.folder)
        os.makedirs(root, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            with repl_board(root, os.path.join(tmp, "tty"), os.path.join(tmp, "boot.py")) as repl:
                if deploy.main(["--board", "sim", "--port", repl, "--resume", "--no-stop", "--no-reset",
                                "--key", args.key]):
                    return 1
        with open(os.path.join(root, "sim.json"), "w") as f:
            json.dump({"speed": args.speed}, f)
        with running_firmware(root, args.port) as port:
            print("pump running on %s (simulated board, %dx real time); Ctrl-C stops it" % (port, args.speed))
            while True:
                time.sleep(3600)
    except PortInUse as exc:
        print("simboard: %s" % exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)


if __name__ == "__main__":
    sys.exit(main())
