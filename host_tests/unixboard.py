"""Helpers for the tests that put the MicroPython unix port behind a pty
(tools/simboard.py): they need socat (Debian package `socat`)."""
import shutil

import pytest

import deploy
from simboard import repl_board

needs_socat = pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed")


def deployed_board(tmp, key_hex):
    """(root folder, key file) of a unix-port board in `tmp` with the sim
    firmware deployed on it by the real mpremote, as onto a bare board."""
    root = tmp / "board_root"
    root.mkdir()
    key = tmp / "pump.key"
    key.write_text(key_hex + "\n")
    with repl_board(root, str(tmp / "repl_tty"), str(tmp / "boot.py")) as port:
        assert deploy.main(["--board", "sim", "--port", port, "--resume", "--no-stop", "--no-reset",
                            "--key", str(key)]) == 0
    return root, key
