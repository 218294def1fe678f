"""hw.usb_serial.LineChannel: whole lines from the USB console, never blocking."""
import pytest
from hypothesis import given, settings, strategies as st

import fake_devices
from hw.usb_serial import LineChannel


@pytest.fixture
def wire():
    stream_in, stream_out = fake_devices.FakeStream(), fake_devices.FakeStream()
    channel = LineChannel(stream_in, stream_out, fake_devices.FakePoll(), 1, max_line=16)
    return channel, stream_in, stream_out


def test_nothing_typed_reads_none(wire):
    channel, _, _ = wire
    assert channel.readline() is None and not channel.input_waiting()


def test_a_line_arriving_in_pieces_is_returned_whole_once_its_newline_comes(wire):
    channel, stream_in, _ = wire
    stream_in.feed(b"STAT")
    assert channel.readline() is None
    stream_in.feed(b"US\n")
    assert channel.readline() == b"STATUS"
    assert channel.readline() is None


def test_lines_that_arrive_together_come_out_one_per_call(wire):
    channel, stream_in, _ = wire
    stream_in.feed(b"one\ntwo\nthr")
    assert [channel.readline(), channel.readline(), channel.readline()] == [b"one", b"two", None]


def test_carriage_returns_are_dropped(wire):
    channel, stream_in, _ = wire
    stream_in.feed(b"ack\r\n")
    assert channel.readline() == b"ack"


def test_an_overlong_line_is_cut_to_the_maximum_and_flagged(wire):
    channel, stream_in, _ = wire
    stream_in.feed(b"0123456789abcdefXYZ\nshort\n")
    assert (channel.readline(), channel.cut) == (b"0123456789abcdef", True)
    assert (channel.readline(), channel.cut) == (b"short", False)


def test_a_line_of_exactly_the_maximum_is_not_cut(wire):
    channel, stream_in, _ = wire
    stream_in.feed(b"0123456789abcdef\n")
    assert (channel.readline(), channel.cut) == (b"0123456789abcdef", False)


def test_write_sends_the_bytes_unchanged(wire):
    channel, _, stream_out = wire
    channel.write(b'{"ok": true}\n')
    assert bytes(stream_out.written) == b'{"ok": true}\n'


@pytest.mark.parametrize("control", [b"\x03", b"\x01", b"\x04", b"\x02", b"\x05", b"\x00", b"\x1b"])
def test_a_console_control_byte_ends_its_line_at_once_flagged(wire, control):
    channel, stream_in, _ = wire
    stream_in.feed(b"{\"cmd\"" + control + b"xyz\n")
    assert (channel.readline(), channel.control) == (b"{\"cmd\"", control[0])
    assert (channel.readline(), channel.control) == (b"xyz", None)
    assert channel.readline() is None


def test_a_run_of_control_bytes_and_carriage_returns_ends_one_line_and_absorbs_its_newline(wire):
    channel, stream_in, _ = wire
    stream_in.feed(b"\r\x03\r\x03\r\x01\x04\r\nstatus\n")
    assert (channel.readline(), channel.control) == (b"", 0x03)
    assert (channel.readline(), channel.control) == (b"status", None)
    assert channel.readline() is None


def test_control_bytes_without_a_newline_do_not_spoil_the_next_line(wire):
    """mpremote trying to break in sends no newline; the next command must be whole."""
    channel, stream_in, _ = wire
    stream_in.feed(b"\r\x03\x03")
    assert (channel.readline(), channel.control) == (b"", 0x03)
    assert channel.readline() is None
    stream_in.feed(b"\r\x01")
    assert channel.readline() is None          # the same run: one refusal
    stream_in.feed(b"status\n")
    assert (channel.readline(), channel.control) == (b"status", None)


def test_tab_is_not_a_control_byte(wire):
    channel, stream_in, _ = wire
    stream_in.feed(b"a\tb\n")
    assert (channel.readline(), channel.control) == (b"a\tb", None)


def test_a_cut_line_ended_by_a_control_byte_is_both_cut_and_flagged(wire):
    channel, stream_in, _ = wire
    stream_in.feed(b"0123456789abcdefXYZ\x03")
    assert (channel.readline(), channel.cut, channel.control) == (b"0123456789abcdef", True, 3)


# ------------------------------------------------ fuzz: control bytes in the stream

COMMAND = b'0f' * 32 + b' {"cmd":"bolus","args":{"mcg":50},"ctr":7}'
CONTROL_BYTES = st.integers(0, 31).filter(lambda byte: byte not in (9, 10, 13)).map(lambda byte: bytes([byte]))
NOISE = st.lists(st.binary(max_size=8) | CONTROL_BYTES | st.sampled_from([b"\r", b"\n", b"\r\x03\r\x01"]),
                 max_size=6).map(b"".join)


def all_lines(data, max_line=512):
    stream_in = fake_devices.FakeStream()
    channel = LineChannel(stream_in, fake_devices.FakeStream(), fake_devices.FakePoll(), 1, max_line=max_line)
    stream_in.feed(data)
    lines = []
    while True:
        line = channel.readline()
        if line is None:
            return lines
        lines.append((line, channel.control, channel.cut))


@settings(max_examples=300, deadline=None)
@given(NOISE, st.integers(1, len(COMMAND)), CONTROL_BYTES, NOISE)
def test_a_command_with_a_control_byte_in_it_or_after_it_never_comes_out_clean(before, at, control, after):
    """Clean: returned with `control` 0, so the protocol would run it."""
    lines = all_lines(before + b"\n" + COMMAND[:at] + control + COMMAND[at:] + b"\n" + after)
    assert all(not any(byte < 32 and byte != 9 for byte in line) for line, _control, _cut in lines)
    assert not any(COMMAND in line for line, flag, _cut in lines if flag is None)


@settings(max_examples=300, deadline=None)
@given(NOISE, NOISE)
def test_a_clean_command_after_any_noise_and_a_newline_comes_out_whole_and_clean(before, after):
    lines = all_lines(before + b"\n" + COMMAND + b"\n" + after)
    assert (COMMAND, None, False) in lines
