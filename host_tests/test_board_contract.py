"""Every board meets the board contract (hw/contract.py), and a new board is
its folder under boards/ plus one line of tools/deploy.py's registry.

A registered board is loaded as the device loads it, its folder as the
top-level package `board`, and built on the fake machine; the simulated
boards are checked as the scenario runner and main.py on the unix port use
them. The last test adds a second board the way the README says to: a copy
of the reference board's folder with what differs changed, in a copy of
the repository that differs from this one only by that folder, and the
registry line; it then passes deploy's checks and the contract.
"""
import contextlib
import importlib
import importlib.util
import os
import re
import subprocess
import sys

import pytest

import fake_machine
import mpenv
from hw import contract
from hw.sim.board import SimBoard
from test_drivers_board import Rig

sys.path.insert(0, os.path.join(mpenv.ROOT, "tools"))
import deploy  # noqa: E402

NEW_BOARD = "refpump_rp2350"
NEW_BOARD_BUZZER = 14  # the one pin the new board moves (the reference board's is GP15)


@contextlib.contextmanager
def as_device_package(folder):
    """The board folder imported as the device imports it: the package `board`."""
    spec = importlib.util.spec_from_file_location("board", os.path.join(folder, "__init__.py"),
                                                  submodule_search_locations=[folder])
    package = importlib.util.module_from_spec(spec)
    sys.modules["board"] = package
    try:
        spec.loader.exec_module(package)
        yield package
    finally:
        for name in [name for name in sys.modules if name == "board" or name.startswith("board.")]:
            del sys.modules[name]


@contextlib.contextmanager
def built(board, tmp_path):
    """(fake machine, board package, board object) of a registered board."""
    with fake_machine.installed() as hw, as_device_package(os.path.join(deploy.ROOT, deploy.BOARDS[board][0])) as package:
        yield hw, package, Rig(hw, tmp_path, "board").boot()


@pytest.mark.parametrize("board", sorted(deploy.BOARDS))
def test_every_registered_board_meets_the_whole_contract(board, tmp_path):
    with built(board, tmp_path) as (_hw, package, board_object):
        assert contract.unmet(package, (contract.PACKAGE,)) == []
        assert contract.unmet(board_object) == []
        assert isinstance(board_object.stepper.emitted, int)


@pytest.mark.parametrize("folder", sorted(name for name in os.listdir(os.path.join(mpenv.ROOT, "boards"))
                                          if os.path.exists(os.path.join(mpenv.ROOT, "boards", name, "__init__.py"))))
def test_every_board_folder_is_a_board_package(folder):
    assert contract.unmet(importlib.import_module("boards." + folder), (contract.PACKAGE,)) == []


def test_the_scenario_runners_board_has_all_the_pump_uses():
    assert contract.unmet(SimBoard(9_557, 0), (contract.PUMP,)) == []


def test_the_simulated_board_main_py_runs_on_meets_the_whole_contract(tmp_path):
    """boards/sim's build() on the MicroPython unix port, as tools/simboard.py
    runs it (from sources, compiled here, so with more than a board's heap)."""
    code = ("import boards.sim\nfrom hw.contract import PACKAGE, unmet\n"
            "print(unmet(boards.sim, (PACKAGE,)), unmet(boards.sim.build()))\n")
    result = subprocess.run(mpenv.micropython_command(heap="2M") + ["-c", code], cwd=tmp_path, stdin=subprocess.DEVNULL,
                            env=dict(os.environ, MICROPYPATH=":".join(
                                os.path.join(mpenv.ROOT, p) for p in mpenv.SEARCH_PATH)),
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["[]", "[]"], result.stdout + result.stderr


def test_the_contract_names_every_member_of_the_board_the_firmware_is_seen_to_use():
    """A new use of the board in firmware/ must be written into the contract."""
    named = {}
    for part in (contract.PUMP, contract.SHELL):
        for name, members in part.items():
            named[name] = set(members or ())
    uses = []
    for folder, pattern in (("pump", r"\bboard\.(\w+)(?:\.(\w+))?"), ("", r"\bhardware\.(\w+)(?:\.(\w+))?")):
        for name in sorted(os.listdir(os.path.join(mpenv.ROOT, "firmware", folder))):
            if name.endswith(".py"):
                with open(os.path.join(mpenv.ROOT, "firmware", folder, name)) as f:
                    uses += re.findall(pattern, f.read())
    assert len(uses) > 40
    for name, member in uses:
        assert name in named and (not member or member in named[name]), (name, member)


def copy_of_the_repository_with_a_new_board(root):
    """`root`: links to everything of this repository, and a new folder
    boards/NEW_BOARD written as the README says: the reference board's
    folder copied, its name and one pin changed."""
    os.mkdir(root)
    for name in os.listdir(mpenv.ROOT):
        if name != "boards":
            os.symlink(os.path.join(mpenv.ROOT, name), os.path.join(root, name))
    os.mkdir(os.path.join(root, "boards"))
    for name in os.listdir(os.path.join(mpenv.ROOT, "boards")):
        os.symlink(os.path.join(mpenv.ROOT, "boards", name), os.path.join(root, "boards", name))
    reference, new = os.path.join(mpenv.ROOT, "boards", "refpump_rp2040"), os.path.join(root, "boards", NEW_BOARD)
    os.mkdir(new)
    changes = {"__init__.py": ("(Raspberry Pi Pico, RP2040)", "(Raspberry Pi Pico 2, RP2350)"),
               "config.py": ('NAME = "refpump_rp2040 rev A"', 'NAME = "%s rev A"' % NEW_BOARD),
               "pins.py": ("BUZZER = const(15)", "BUZZER = const(%d)" % NEW_BOARD_BUZZER)}
    for name, (old, changed) in changes.items():
        with open(os.path.join(reference, name)) as f:
            text = f.read()
        assert old in text, (name, old)
        with open(os.path.join(new, name), "w") as f:
            f.write(text.replace(old, changed))
    return new


def test_a_second_board_is_its_folder_and_one_registry_line(tmp_path, monkeypatch, capsys):
    root = str(tmp_path / "repo")
    copy_of_the_repository_with_a_new_board(root)
    assert [name for name in os.listdir(root) + os.listdir(os.path.join(root, "boards"))
            if not os.path.islink(os.path.join(root, name)) and not os.path.islink(os.path.join(root, "boards", name))
            ] == ["boards", NEW_BOARD]  # only the new folder (and the folder holding it) is not this repository's
    monkeypatch.setattr(deploy, "ROOT", root)
    monkeypatch.setitem(deploy.BOARDS, NEW_BOARD, (os.path.join("boards", NEW_BOARD), "armv7emsp"))  # the registry line
    calibration = tmp_path / "calibration.json"
    calibration.write_text('{"steps_per_ml": 12810}')

    assert deploy.main(["--board", NEW_BOARD, "--dry-run", "--calibration", str(calibration)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"boards/%s/pins\.py +-> :/board/pins\.mpy +\(mpy-cross -march=armv7emsp\)" % NEW_BOARD, out)
    assert "boards/refpump_rp2040" not in out
    assert deploy.main(["--board", NEW_BOARD, "--build", str(tmp_path / "built")]) == 0
    assert (tmp_path / "built" / "board" / "config.mpy").read_bytes()[:1] == b"M"

    with built(NEW_BOARD, tmp_path) as (hw, package, board):
        assert contract.unmet(package, (contract.PACKAGE,)) == []
        assert contract.unmet(board) == []
        assert board.name == NEW_BOARD + " rev A" and board.startup_faults == []
        assert NEW_BOARD_BUZZER in hw.pwms and 15 not in hw.pwms   # its own pin map


def test_deploy_refuses_a_registered_folder_that_is_not_a_board(tmp_path, monkeypatch, capsys):
    root = str(tmp_path / "repo")
    new = copy_of_the_repository_with_a_new_board(root)
    monkeypatch.setattr(deploy, "ROOT", root)
    monkeypatch.setitem(deploy.BOARDS, NEW_BOARD, (os.path.join("boards", NEW_BOARD), "armv7emsp"))
    with open(os.path.join(new, "config.py"), "a") as f:
        f.write('DEFAULT_CALIBRATION = dict(DEFAULT_CALIBRATION, steps_per_ml=20_000)\n')
    assert deploy.main(["--board", NEW_BOARD, "--dry-run"]) == 1
    assert "its nominal calibration is refused by its own limits: calibration steps_per_ml=20000 outside" \
        in capsys.readouterr().err
    with open(os.path.join(new, "__init__.py")) as f:
        text = f.read()
    with open(os.path.join(new, "__init__.py"), "w") as f:
        f.write(text.replace("def panic():", "def stop():"))
    assert deploy.main(["--board", NEW_BOARD, "--dry-run"]) == 1
    assert "__init__.py does not define panic" in capsys.readouterr().err
