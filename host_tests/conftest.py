"""Puts the project's modules on sys.path the way tools/mpenv.py does for MicroPython."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import mpenv  # noqa: E402

mpenv.add_to_sys_path()
