"""The RP2040's USB console as MicroPython runs it, for the unix port behind a pty.

On the chip, the USB stack looks at every byte the host sends: the byte
equal to the interrupt character (micropython.kbd_intr; 0x03 while main.py
runs, until the firmware changes it) never reaches stdin, it raises
KeyboardInterrupt in whatever code runs; after kbd_intr(-1) it is data like
any other byte. The unix port behind tools/simboard.py's pty does neither
(checked on MicroPython 1.29's unix port): the pty is raw (socat `rawer`),
so 0x03 arrives as a byte whatever kbd_intr says; and where a terminal does
make it a signal, kbd_intr(-1) there restores SIGINT's default, which kills
the process, where the chip would pass the byte on.

So the simulated board reads its serial line through ChipConsole, and the
`board` package's kbd_intr (main.py's way to lock the console) sets the
character it watches for: the pty board then stops, or does not stop, on
Ctrl-C exactly when the firmware has told a chip to.
"""
import select

_interrupt = [3]  # the interrupt character, -1 for none: MicroPython's default while a script runs


def kbd_intr(char):
    _interrupt[0] = char


class ChipConsole:
    """A stream and its poller for hw.usb_serial.LineChannel: stdin's bytes,
    less the interrupt character, which raises KeyboardInterrupt instead."""

    def __init__(self, stream):
        self._stream = stream
        self._poll = select.poll()
        self._poll.register(stream, select.POLLIN)
        self._byte = bytearray(1)

    def register(self, _stream, _events):
        """LineChannel registers its stream: this console already polls stdin."""

    def ipoll(self, timeout):
        return self._poll.ipoll(timeout)

    def readinto(self, buf):
        """One byte at a time, as LineChannel reads, so none is read past the interrupt."""
        if not self._stream.readinto(self._byte):
            return 0
        if self._byte[0] == _interrupt[0]:
            raise KeyboardInterrupt
        buf[0] = self._byte[0]
        return 1
