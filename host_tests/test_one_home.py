"""Facts that have one home in the code, and a check that no second copy appears.

Signing a command line (MAC in hex, a space, the body) lives in
`pump.protocol.frame`; every tool, simulator, benchmark and test calls it.
The one deliberate copy is in test_pumpctl.py, which checks the host's lines
against CPython's own `hmac`, written apart from the firmware.
"""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE_DIRS = ("firmware", "hw", "boards", "tools", "bench", "host_tests")

# A MAC turned into hex and joined to a body with a space, on one line.
SIGNING = re.compile(r'(hexlify\(|hexdigest\(|\.hex\().*\+ b" " \+')
SIGNING_HOME = "firmware/pump/protocol.py"
SIGNING_CROSS_CHECK = "host_tests/test_pumpctl.py"


def python_sources():
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *CODE_DIRS],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [path for path in listed if path.endswith(".py") and os.path.exists(os.path.join(ROOT, path))]


def lines_matching(pattern, skip):
    found = []
    for path in python_sources():
        if path in skip:
            continue
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if pattern.search(line):
                    found.append("%s:%d: %s" % (path, number, line.strip()))
    return found


def test_the_signing_pattern_finds_the_ways_a_line_was_signed_before():
    for copy in ('return binascii.hexlify(self.mac.digest(body)) + b" " + body',
                 'line = hmac.new(key, body, hashlib.sha256).hexdigest().encode() + b" " + body',
                 'return mac.digest(body).hex().encode() + b" " + body'):
        assert SIGNING.search(copy), copy


def test_a_command_line_is_signed_only_by_pump_protocol_frame():
    assert lines_matching(SIGNING, {SIGNING_HOME, SIGNING_CROSS_CHECK, "host_tests/test_one_home.py"}) == []
    with open(os.path.join(ROOT, SIGNING_HOME), encoding="utf-8") as f:
        assert SIGNING.search(f.read()), "the home of signing moved: update this test"
