"""The device key file's one rule (hw.keyfile), as the board and the host tools read it.

Runs on CPython and on the MicroPython unix port: the board parses
/device.key with the same function tools/deploy.py checks it with.
"""
from hw.keyfile import KEY_BYTES, parse_key

KEY = bytes(range(0xA0, 0xA0 + KEY_BYTES))
HEX = "".join("%02x" % b for b in KEY)


def refused(text):
    try:
        parse_key(text)
    except ValueError as exc:
        return str(exc)
    return None


def test_a_key_file_holds_the_key_as_hex_in_either_case():
    assert parse_key(HEX) == KEY
    assert parse_key(HEX.upper()) == KEY


def test_whitespace_anywhere_is_ignored():
    for text in (HEX + "\n", HEX + "\r\n", "  " + HEX + "\t\n", HEX[:32] + "\n" + HEX[32:] + "\n",
                 " ".join(HEX[i:i + 8] for i in range(0, len(HEX), 8))):
        assert parse_key(text) == KEY, repr(text)


def test_an_empty_or_blank_file_is_refused():
    for text in ("", "\n", "   \r\n"):
        assert refused(text) == "must hold 64 hex digits (a 32-byte key)", repr(text)


def test_what_is_not_64_hex_digits_is_refused():
    for text in ("zz" + HEX[2:], HEX[:-1], HEX[:-2], HEX + "00", HEX + "0", "0x" + HEX[2:], HEX[:-1] + "\u00e9"):
        assert refused(text) is not None, repr(text)
