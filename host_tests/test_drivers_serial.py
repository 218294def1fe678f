"""hw.usb_serial.LineChannel: whole lines from the USB console, never blocking."""
import pytest

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
