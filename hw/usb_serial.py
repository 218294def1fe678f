"""board.serial: lines from the USB CDC console, without ever blocking.

The pump loop cannot wait on a host that is not typing, so `readline` polls
(select.poll with a zero timeout) and takes only the bytes already there,
assembling lines in a buffer allocated once. A line longer than `max_line`
is cut: its first max_line bytes are returned when its newline comes, with
`cut` set True for that line, and the protocol refuses it (a truncated
command must never run as if whole). Carriage returns are dropped, so a
terminal's CRLF works.

Console control bytes (C0 codes other than tab, newline and carriage
return: 0x03 Ctrl-C, 0x01 Ctrl-A for the raw REPL, 0x04 Ctrl-D, ...) never
belong in a command: JSON allows none of them raw. Outside service mode
firmware/main.py has turned the interrupt character off, so they arrive
here as bytes, and each run of them ends the line it falls in at once,
returned with `control` set to the run's first byte (None on a line that
ended at its newline; 0 is NUL, a control byte too) so that the line is
refused whole (a command with a Ctrl-C in it is not the command that was
meant). A run, and a newline right after it, ends one line only: a terminal
that sends "Ctrl-C, Enter" gets one refusal, and bytes that never end in a
newline (mpremote trying to break in) cannot sit in the buffer and spoil
the next real command.
"""
from pump.compat import const
from pump.protocol import MAX_LINE_BYTES

_TAB = const(9)
_NEWLINE = const(10)
_CARRIAGE_RETURN = const(13)
_FIRST_PRINTABLE = const(32)


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
        self._in_control_run = False
        self.cut = False
        self.control = None

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
            if byte == _CARRIAGE_RETURN:
                continue
            if byte == _NEWLINE:
                if self._in_control_run:  # the run already ended this line
                    self._in_control_run = False
                    continue
                return self._take(None)
            if byte < _FIRST_PRINTABLE and byte != _TAB:
                if self._in_control_run:
                    continue
                self._in_control_run = True
                return self._take(byte)
            self._in_control_run = False
            if self._length < len(self._line):
                self._line[self._length] = byte
                self._length += 1
            else:
                self._overflow = True
        return None

    def _take(self, control):
        line = bytes(self._line[:self._length])
        self.cut = self._overflow
        self.control = control
        self._length = 0
        self._overflow = False
        return line

    def write(self, data):
        self._out.write(data)
