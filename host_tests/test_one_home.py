"""Facts that have one home in the code, and a check that no second copy appears.

Signing a command line (MAC in hex, a space, the body) lives in
`pump.protocol.frame`; every tool, simulator, benchmark and test calls it.
The one deliberate copy is in test_pumpctl.py, which checks the host's lines
against CPython's own `hmac`, written apart from the firmware.

Reading a device key file lives in `hw.keyfile` (one whitespace rule), used
by the board, the simulated board, tools/deploy.py and tools/pumplink.py.
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
# Hex text turned into bytes: outside tests, only the key file and the MAC of a line.
HEX_TO_BYTES = re.compile(r"unhexlify\(|fromhex\(")
HEX_TO_BYTES_HOMES = {"hw/keyfile.py", "firmware/pump/protocol.py"}


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


def test_hex_is_parsed_only_by_the_key_file_reader_and_the_protocol():
    tests = {path for path in python_sources() if path.startswith("host_tests/")}
    assert lines_matching(HEX_TO_BYTES, HEX_TO_BYTES_HOMES | tests) == []
    for copy in ("key = binascii.unhexlify(text)", "key = bytes.fromhex(text)"):
        assert HEX_TO_BYTES.search(copy), copy


def test_every_key_file_reader_takes_and_refuses_the_same_files(tmp_path):
    import deploy
    import pumplink
    from hw.keyfile import KEY_BYTES, load_device_key
    key = bytes(range(KEY_BYTES))
    good = {"plain": key.hex(), "newline": key.hex() + "\n", "crlf": key.hex().upper() + "\r\n",
            "grouped": " ".join(key.hex()[i:i + 8] for i in range(0, 2 * KEY_BYTES, 8)) + "\n"}
    bad = {"empty": "", "blank": " \n", "not hex": "zz" * KEY_BYTES, "short": key.hex()[:-2], "odd": key.hex()[:-1]}
    for name, text in list(good.items()) + list(bad.items()):
        path = tmp_path / name
        path.write_text(text)
        expected = key if name in good else None
        try:
            host = pumplink.read_key_file(str(path))
        except pumplink.LinkError:
            host = None
        try:
            deployed = bytes.fromhex(deploy.read_key(str(path)))
        except deploy.DeployError:
            deployed = None
        on_board, problem = load_device_key(str(path))  # the reference board's and the simulated one's
        assert (host, deployed, on_board) == (expected, expected, expected), name
        assert (problem is None) == (name in good), name
