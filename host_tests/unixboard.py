"""Skip marker for the tests that put the MicroPython unix port behind a pty
(tools/simboard.py): they need socat (Debian package `socat`)."""
import shutil

import pytest

needs_socat = pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed")
