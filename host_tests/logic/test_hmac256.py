"""HMAC-SHA256 as the command channel computes it, against RFC 4231 section 4.

Runs on CPython and on the MicroPython unix port, whose missing `hmac`
module is why pump.hmac256 exists.
"""
import binascii

from pump.hmac256 import HmacSha256, digests_equal


def unhex(text):
    return binascii.unhexlify(text.replace(" ", ""))


# RFC 4231 test cases 1-7: (key, data, HMAC-SHA-256; case 5 is truncated to 128 bits)
RFC4231_CASES = (
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\x0c" * 20, b"Test With Truncation",
     "a3b6167473100ee06e0c796c2955552b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131,
     b"This is a test using a larger than block-size key and a larger than "
     b"block-size data. The key needs to be hashed before being used by the "
     b"HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
)


def test_rfc4231_vectors_match():
    for number, (key, data, expected_hex) in enumerate(RFC4231_CASES, 1):
        expected = unhex(expected_hex)
        mac = HmacSha256(key).digest(data)
        assert mac[:len(expected)] == expected, "RFC 4231 case %d" % number


def test_digest_is_32_bytes():
    assert len(HmacSha256(b"k").digest(b"")) == 32


def test_one_key_macs_many_messages_independently():
    # The padded keys are reused across calls: a second MAC must not depend on the first.
    key = HmacSha256(b"Jefe")
    first = key.digest(b"what do ya want for nothing?")
    key.digest(b"something else entirely")
    assert key.digest(b"what do ya want for nothing?") == first


def test_key_of_exactly_one_block_is_used_unhashed():
    # 64 bytes is padded (by nothing), 65 bytes is hashed: the two must differ.
    assert HmacSha256(b"\x01" * 64).digest(b"m") != HmacSha256(b"\x01" * 65).digest(b"m")


def test_digests_equal_accepts_identical_digests():
    mac = HmacSha256(b"k").digest(b"m")
    assert digests_equal(mac, bytes(mac))


def test_digests_equal_refuses_a_difference_in_any_byte():
    mac = HmacSha256(b"k").digest(b"m")
    for i in range(len(mac)):
        forged = bytearray(mac)
        forged[i] ^= 0x01
        assert not digests_equal(mac, bytes(forged)), "byte %d" % i


def test_digests_equal_refuses_a_different_length():
    mac = HmacSha256(b"k").digest(b"m")
    assert not digests_equal(mac, mac[:16])
    assert not digests_equal(mac, mac + b"\x00")
