"""HMAC-SHA256 (RFC 2104 over FIPS 180-4 SHA-256) for the command channel.

MicroPython's unix and rp2 ports ship `hashlib.sha256` but no `hmac` module,
so the construction is written out here: H((K ^ opad) || H((K ^ ipad) || m)),
with a key longer than the 64-byte block hashed first and a shorter one
zero-padded. The padded keys are computed once per key, because the protocol
MACs every programming command with the same device key. Checked against the
RFC 4231 test vectors on both interpreters (host_tests/logic/test_hmac256.py)
and against CPython's own `hmac` by the pumpctl tests.
"""
import hashlib

from pump.compat import const

BLOCK_BYTES = const(64)
DIGEST_BYTES = const(32)
_IPAD = const(0x36)
_OPAD = const(0x5C)


class HmacSha256:
    """A key ready to MAC messages: `HmacSha256(key).digest(message)` -> 32 bytes."""

    def __init__(self, key):
        if len(key) > BLOCK_BYTES:
            key = hashlib.sha256(key).digest()
        padded = bytes(key) + bytes(BLOCK_BYTES - len(key))
        self._inner_key = bytes(b ^ _IPAD for b in padded)
        self._outer_key = bytes(b ^ _OPAD for b in padded)

    def digest(self, message):
        inner = hashlib.sha256(self._inner_key)
        inner.update(message)
        outer = hashlib.sha256(self._outer_key)
        outer.update(inner.digest())
        return outer.digest()


def digests_equal(a, b):
    """Compare two digests in time independent of where they first differ.

    An early-exit `==` tells an attacker, by its timing, how many leading
    bytes of a forged MAC were right, so a forgery could be built byte by
    byte. Length is not secret (always DIGEST_BYTES here).
    """
    if len(a) != len(b):
        return False
    difference = 0
    for i in range(len(a)):
        difference |= a[i] ^ b[i]
    return difference == 0
