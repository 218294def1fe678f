"""tools/simboard.py: it stops cleanly, never takes over another board's port,
refuses speeds the pump cannot keep up with, and says "running" only once
the pump has answered.

The SIGTERM test runs simboard's main in a child process, as `kill PID`
finds it, with the deploy skipped and a stand-in main.py that idles, so it
tests the stopping, not the firmware. Needs socat (Debian package `socat`).
"""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import mpenv
import simboard
from unixboard import needs_socat

IDLE_MAIN = "import time\nwhile True:\n    time.sleep(1)\n"
WITHOUT_DEPLOY = """
import sys
sys.path.insert(0, %r)
import deploy, simboard
deploy.main = lambda argv: 0
simboard.ANSWER_S = %d
sys.exit(simboard.main(sys.argv[1:]))
"""
WAIT_FOR_ANSWER = WITHOUT_DEPLOY.replace("%d", "30") % os.path.join(mpenv.ROOT, "tools")
GIVE_UP_SOON = WITHOUT_DEPLOY.replace("%d", "2") % os.path.join(mpenv.ROOT, "tools")


def process_state(pid):
    """The state letter in /proc/PID/stat (R, S, Z for an ended process not yet reaped...), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def descendants(pid):
    """The processes below `pid`, children first."""
    parents = {}
    for name in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % name) as f:
                parents.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(name))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(0), [])
        found += children
        todo += children
    return found


def running(pids):
    return [pid for pid in pids if process_state(pid) not in (None, "Z")]


def wait_until(condition, timeout_s):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def idle_board_command(tmp_path, runner):
    """simboard's command line (without its deploy) for a board whose main.py idles, never answering."""
    root = tmp_path / "board"
    root.mkdir()
    (root / "main.py").write_text(IDLE_MAIN)
    (tmp_path / "run.py").write_text(runner)
    return [sys.executable, str(tmp_path / "run.py"), str(root), "--key", "unused", "--port", str(tmp_path / "tty")]


@needs_socat
def test_sigterm_stops_socat_and_the_unix_port_and_removes_the_link(tmp_path):
    port = str(tmp_path / "tty")
    board = subprocess.Popen(idle_board_command(tmp_path, WAIT_FOR_ANSWER), stdout=subprocess.DEVNULL)
    below = []
    try:
        assert wait_until(lambda: os.path.exists(port) and len(descendants(board.pid)) == 3, 15)
        below = descendants(board.pid)    # socat, tools/unixchip.py under it, and the unix port it runs
        board.send_signal(signal.SIGTERM)
        assert board.wait(timeout=15) == 0
        assert wait_until(lambda: running(below) == [], 5), running(below)
        assert not os.path.lexists(port)
    finally:   # a failed run leaves nothing behind either
        for pid in running([board.pid] + below):
            os.kill(pid, signal.SIGKILL)
        board.wait()


def stale_link(path):
    os.symlink(str(path) + ".gone", path)


def regular_file(path):
    path.write_text("")


@pytest.mark.parametrize("make", [stale_link, regular_file])
def test_a_port_path_that_exists_is_refused_before_deploying(tmp_path, make, monkeypatch, capsys):
    monkeypatch.setattr(simboard.deploy, "main", None)   # a deploy would fail the test
    port = tmp_path / "tty"
    make(port)
    assert simboard.main([str(tmp_path / "board"), "--key", "unused", "--port", str(port)]) == 1
    assert capsys.readouterr().err == "simboard: in use: %s, or a stale link: remove it\n" % port
    assert os.path.lexists(port)


def test_a_board_behind_a_pty_never_takes_over_an_existing_link(tmp_path):
    port = tmp_path / "tty"
    stale_link(port)
    with pytest.raises(simboard.PortInUse):
        with simboard.behind_pty("true", str(port)):
            pass


def test_main_leaves_the_callers_sigterm_handler_as_it_found_it(tmp_path):
    port = tmp_path / "tty"
    regular_file(port)
    before = signal.getsignal(signal.SIGTERM)
    assert simboard.main([str(tmp_path / "board"), "--key", "unused", "--port", str(port)]) == 1
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("speed", ["0", "-5", str(simboard.MAX_SPEED + 1), "1e3", "fast"])
def test_a_speed_the_pump_cannot_keep_up_with_is_refused_in_one_line(speed, capsys, monkeypatch):
    monkeypatch.setattr(simboard.deploy, "main", None)   # nothing may start
    with pytest.raises(SystemExit) as exit_info:
        simboard.main(["folder", "--key", "unused", "--speed", speed])
    assert exit_info.value.code == 2
    assert "--speed" in capsys.readouterr().err.strip().splitlines()[-1]


def test_the_highest_speed_leaves_the_pump_its_late_wake_allowance():
    from pump.controller import LATE_WAKE_LIMIT_MS
    assert simboard.MAX_SPEED * simboard.HOST_PAUSE_MS <= LATE_WAKE_LIMIT_MS
    assert simboard.speed(str(simboard.MAX_SPEED)) == simboard.MAX_SPEED


@needs_socat
def test_a_firmware_that_never_answers_is_not_reported_running(tmp_path):
    result = subprocess.run(idle_board_command(tmp_path, GIVE_UP_SOON), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "running" not in result.stdout
    assert result.stderr.strip() == "simboard: the pump did not answer on %s within 2 s" % (tmp_path / "tty")
    assert not os.path.lexists(tmp_path / "tty")


@pytest.mark.parametrize("flags, jumpers", [([], {"bench": True, "service": False}),
                                            (["--no-bench"], {"bench": False, "service": False}),
                                            (["--service"], {"bench": True, "service": True})])
def test_the_jumper_flags_are_what_the_simulated_board_boots_with(tmp_path, monkeypatch, flags, jumpers):
    seen = {}

    @contextlib.contextmanager
    def board_at_boot(root, port):
        with open(os.path.join(root, "sim.json")) as f:
            seen.update(json.load(f))
        raise KeyboardInterrupt   # as if stopped at once
        yield port

    monkeypatch.setattr(simboard, "running_firmware", board_at_boot)
    assert simboard.main([str(tmp_path / "board"), "--key", "unused", "--port", str(tmp_path / "tty"),
                          "--no-deploy", "--speed", "120"] + flags) == 0
    assert seen == dict(jumpers, speed=120)
