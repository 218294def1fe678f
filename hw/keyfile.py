"""The device key file: one rule for every reader, on the pump and on the host.

A key file holds the 32-byte device key (the command channel's HMAC key) as
64 hex digits, either case. Whitespace anywhere is ignored: a trailing
newline or CRLF, or a key written in groups. The board reading /device.key,
the simulated board, tools/deploy.py writing it and the host tools signing
with it all call parse_key, so a file one of them takes the others take too;
both boards read theirs with load_device_key.
"""
import binascii

from pump.hmac256 import DIGEST_BYTES

KEY_BYTES = DIGEST_BYTES


def parse_key(text):
    """The key (bytes) from a key file's text (str).

    Raises ValueError, saying what a key file must hold, if the text without
    its whitespace is not exactly 2 * KEY_BYTES hex digits (empty included).
    """
    digits = "".join(text.split())
    try:
        key = binascii.unhexlify(digits)
    except ValueError:  # odd length, a non-hex digit, non-ASCII text
        key = b""
    if len(key) != KEY_BYTES:
        raise ValueError("must hold %d hex digits (a %d-byte key)" % (2 * KEY_BYTES, KEY_BYTES))
    return key


def read_key(path):
    """The key from the file at `path`. OSError if it cannot be read (the
    caller decides what a missing file means), ValueError as parse_key."""
    with open(path) as f:
        return parse_key(f.read())


def load_device_key(path):
    """What a board makes of its key file: (key or None, problem or None).
    No file is an unprovisioned board (read-only commands only), not a
    fault; a file that is not a key is no key and a problem to report."""
    try:
        return read_key(path), None
    except OSError:
        return None, None
    except ValueError as exc:
        return None, "device key %s %s" % (path, exc)
