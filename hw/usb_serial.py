"""board.serial: lines from the USB CDC console, without ever blocking.

The pump loop cannot wait on a host that is not typing, so `readline` polls
(select.poll with a zero timeout) and takes only the bytes already there,
assembling lines in a buffer allocated once. A line longer than `max_line`
is cut: its first max_line bytes are returned when its newline comes, with
`cut` set True for that line, and the protocol refuses it (a truncated
command must never run as if whole). Carriage returns are dropped, so a
terminal's CRLF works.

Note: the console still turns Ctrl-C (0x03) into KeyboardInterrupt, which is
what lets mpremote stop the loop to deploy; the command protocol is text and
never sends it.
"""
from pump.compat import const
from pump.protocol import MAX_LINE_BYTES

_NEWLINE = const(10)
_CARRIAGE_RETURN = const(13)


class LineChannel:
    def __init__(self, stream_in, stream_out, poller, poll_in, max_line=MAX_LINE_BYTES):
        """`poller` is a select.poll() object, `poll_in` select.POLLIN."""
        self._in = stream_in
        self._out = stream_out
        self._poller = poller
        self._poll_in = poll_in
        poller.register(stream_in, poll_in)
        self._line = bytearray(max_line)
        self._byte = bytearray(1)
        self._length = 0
        self._overflow = False
        self.cut = False

    def input_waiting(self):
        # ipoll yields a reused tuple (stream, events, ...): nothing allocated.
        for entry in self._poller.ipoll(0):
            if entry[1] & self._poll_in:
                return True
        return False

    def readline(self):
        """A whole line (without its newline) if one has arrived, else None."""
        while self.input_waiting():
            if not self._in.readinto(self._byte):
                return None
            byte = self._byte[0]
            if byte == _NEWLINE:
                line = bytes(self._line[:self._length])
                self.cut = self._overflow
                self._length = 0
                self._overflow = False
                return line
            if byte == _CARRIAGE_RETURN:
                continue
            if self._length < len(self._line):
                self._line[self._length] = byte
                self._length += 1
            else:
                self._overflow = True
        return None

    def write(self, data):
        self._out.write(data)
