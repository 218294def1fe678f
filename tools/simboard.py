"""A pump without a board: the MicroPython unix port standing in for one.

    python tools/simboard.py FOLDER --key KEY_FILE [--speed 60] [--port /tmp/ttyPump]
                             [--no-bench] [--service] [--no-deploy]

deploys the firmware with the real mpremote (tools/deploy.py --board sim)
into FOLDER, the stand-in board's filesystem (as an engineer flashes a bare
board: no firmware runs there yet), then boots its main.py there on the
simulated board, in real time times --speed, behind a pty: talk to it with
`tools/pumpctl.py --port /tmp/ttyPump --key-file KEY_FILE ...` or
`tools/bench.py board ...`, exactly as to a Pico. It says the pump is
running only once the pump has answered over the pty.

It behaves like a board (tools/unixchip.py): after the firmware's designed
reset (a crash, logged) main.py boots again with its restart alarm; the
clock never goes back across restarts, whatever the new --speed, and the
reservoir keeps what the plunger left (FOLDER/world.json). The bench jumper
is fitted unless --no-bench; --service boots with the service jumper
(no delivery, the console opens to Ctrl-C: how tools/deploy.py reaches a
board that already runs the pump); --no-deploy boots what FOLDER holds.

Ctrl-C or a plain `kill` stops it, with socat, the unix port and the pty
link; the pump's records stay in FOLDER/data for the next boot. A --port
path that already exists is refused: another simulated board may own it.
Needs socat (Debian).
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
from unixchip import REPL_BOOT

mpenv.add_to_sys_path()
from pump.controller import LATE_WAKE_LIMIT_MS  # noqa: E402

# A pause of the host (a busy core, a file sync) of HOST_PAUSE_MS is the
# speed times as long for the pump; past LATE_WAKE_LIMIT_MS late the pump
# logs a delivery gap and restarts its schedule. So the speed is bounded.
HOST_PAUSE_MS = 10
MAX_SPEED = LATE_WAKE_LIMIT_MS // HOST_PAUSE_MS
ANSWER_S = 20  # how long the first boot may take to answer


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
    """Run `command` (a string) behind a pty linked at `port`; yield the port.

    The command runs in a session of its own, the pty its controlling
    terminal: when socat ends, the pty hangs up and takes the whole session
    with it, as closing a terminal does. Without that, a shell command's
    children outlived it (socat ends only its own child)."""
    refuse_taken(port)
    socat = subprocess.Popen(["socat", "PTY,link=%s,rawer" % port, "EXEC:%s,pty,setsid,ctty,stderr,rawer" % command],
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
    """The deployed main.py running in `root` as a board runs it (tools/unixchip.py)."""
    return behind_pty(" ".join([sys.executable, os.path.join(mpenv.ROOT, "tools", "unixchip.py"),
                                str(root), "--heap", heap]), port)


def speed(text):
    """argparse type: a whole number of simulated seconds per real second the pump can keep up with."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % text)
    if not 1 <= value <= MAX_SPEED:
        raise argparse.ArgumentTypeError(
            "%d cannot work: it must be 1..%d (a %d ms pause of this host would be %d s late for the pump,"
            " past the %d s after which it restarts its schedule)"
            % (value, MAX_SPEED, HOST_PAUSE_MS, value * HOST_PAUSE_MS // 1000, LATE_WAKE_LIMIT_MS // 1000))
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="the stand-in board's filesystem (created if missing)")
    parser.add_argument("--key", required=True, help="device key file (tools/deploy.py --new-key makes one)")
    parser.add_argument("--speed", type=speed, default=60,
                        help="simulated seconds per real second, 1..%d (default 60)" % MAX_SPEED)
    parser.add_argument("--port", default="/tmp/ttyPump", help="where the pty appears (default /tmp/ttyPump)")
    parser.add_argument("--no-bench", action="store_true", help="boot without the bench jumper")
    parser.add_argument("--service", action="store_true",
                        help="boot with the service jumper: no delivery, the console opens to Ctrl-C")
    parser.add_argument("--no-deploy", action="store_true", help="boot what FOLDER holds, deploy nothing")
    args = parser.parse_args(argv)
    previous_sigterm = signal.signal(signal.SIGTERM, interrupt)
    try:
        refuse_taken(args.port)   # before the deploy, not after it
        root = os.path.abspath(args.folder)
        os.makedirs(root, exist_ok=True)
        if not args.no_deploy:
            with tempfile.TemporaryDirectory() as tmp:
                with repl_board(root, os.path.join(tmp, "tty"), os.path.join(tmp, "boot.py")) as repl:
                    if deploy.main(["--board", "sim", "--port", repl, "--resume", "--no-stop", "--no-reset",
                                    "--key", args.key]):
                        return 1
        with open(os.path.join(root, "sim.json"), "w") as f:
            json.dump({"speed": args.speed, "bench": not args.no_bench, "service": args.service}, f)
        with running_firmware(root, args.port) as port:
            reply = deploy.pump_answer(port, ANSWER_S)
            if reply is None:
                print("simboard: the pump did not answer on %s within %d s" % (port, ANSWER_S), file=sys.stderr)
                return 1
            if reply.get("error") == "service_mode":
                print("service mode on %s: not delivering; Ctrl-C on the line (mpremote) opens the REPL;"
                      " Ctrl-C here stops it" % port)
            else:
                print("pump running on %s (simulated board, %dx real time, bench jumper %s); Ctrl-C stops it"
                      % (port, args.speed, "off" if args.no_bench else "fitted"))
            sys.stdout.flush()
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
