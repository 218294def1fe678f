"""Host side of the pump's command channel: framing, MAC and counter, one request at a time.

The wire format is the one firmware/pump/protocol.py documents and checks:

    read-only:      {"cmd":"status"}\\n
    authenticated:  <64 hex digits of HMAC-SHA256(key, BODY)> <BODY>\\n
                    BODY = {"cmd":"bolus","args":{"mcg":50},"ctr":18}

The MAC is computed over the exact bytes that are sent, so it never depends
on how either side would re-serialise the JSON, by the firmware's own
`pump.protocol.frame` (host_tests/test_pumpctl.py checks its lines against
CPython's `hmac`).
Which commands need a MAC and how long a line may be come from the firmware
module itself, so host and pump cannot disagree. Used by tools/pumpctl.py
and by bench tools that drive a board or a simulated one.
"""
import json
import os
import time

import mpenv

mpenv.add_to_sys_path()
from hw.keyfile import read_key  # noqa: E402
from pump.hmac256 import HmacSha256  # noqa: E402
from pump.protocol import MAX_LINE_BYTES, frame  # noqa: E402
from pump.schema import AUTH_COMMAND, needs_mac  # noqa: E402

class LinkError(Exception):
    """The link itself failed: a key or counter file, or the serial port."""


class NoAnswer(LinkError):
    """The pump sent no reply line within the timeout."""


class PumpRefused(Exception):
    """The pump answered {"ok": false, ...}: it refused the command."""

    def __init__(self, reply, raw):
        super().__init__("%s: %s" % (reply.get("error"), reply.get("message")))
        self.code = reply.get("error")
        self.message = reply.get("message")
        self.reply = reply
        self.raw = raw


def read_key_file(path):
    """The device key from a key file, by the board's own rule (hw.keyfile)."""
    try:
        return read_key(path)
    except OSError as exc:
        raise LinkError("cannot read key file %s: %s" % (path, exc.strerror or exc))
    except ValueError as exc:
        raise LinkError("key file %s %s" % (path, exc))


def encode_line(name, args=None, key=None, ctr=None):
    """The line (bytes, newline included) that carries one command.

    With `key`, the body carries `ctr` and the line starts with the MAC.
    Raises ValueError for what the pump would refuse unread: a value JSON
    cannot carry (NaN) or a line over MAX_LINE_BYTES.
    """
    message = {"cmd": name}
    if args:
        message["args"] = args
    if key is not None:
        message["ctr"] = ctr
    # UTF-8 as it is (4 bytes at most a character), not 6-byte escapes: the
    # pump's line limit (pump.schema) allows for the escaped form anyway.
    body = json.dumps(message, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode()
    line = body if key is None else frame(HmacSha256(key), body)
    if len(line) > MAX_LINE_BYTES:
        raise ValueError("%s is %d bytes on the wire; the pump takes at most %d" % (name, len(line), MAX_LINE_BYTES))
    return line + b"\n"


class CounterFile:
    """The last counter this host used, kept in a file, so every command gets a new one.

    The next counter is written (atomically) before the command is sent: a
    command lost in transit burns its counter rather than risk reusing it.
    """

    def __init__(self, path):
        self.path = path

    def last(self):
        try:
            with open(self.path) as counter_file:
                text = counter_file.read().strip()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise LinkError("cannot read counter file %s: %s" % (self.path, exc.strerror or exc))
        if not text.isdigit():
            raise LinkError("counter file %s must hold one whole number, not %r" % (self.path, text[:20]))
        return int(text)

    def next(self):
        ctr = self.last() + 1
        temporary = self.path + ".tmp"
        try:
            with open(temporary, "w") as counter_file:
                counter_file.write("%d\n" % ctr)
            os.replace(temporary, self.path)
        except OSError as exc:
            raise LinkError("cannot write counter file %s: %s" % (self.path, exc.strerror or exc))
        return ctr


class PumpLink:
    """Sends a command and waits for its reply over a serial-like port.

    `port` needs write(bytes) and readline() (pyserial's Serial, or a fake
    in tests), with a short read timeout of its own; `timeout_s` bounds the
    whole wait for a reply. Lines that are not a JSON object with "ok" (boot
    messages, noise) are skipped. Without a counter file, an authenticated
    command first asks the pump for its last accepted counter ("auth").
    """

    def __init__(self, port, key=None, counter_file=None, timeout_s=2.0):
        self.port = port
        self.key = key
        self.counter_file = counter_file
        self.timeout_s = timeout_s

    def request(self, name, args=None):
        """(reply dict, raw reply line) for an accepted command; PumpRefused otherwise."""
        if needs_mac(name):
            if self.key is None:
                raise LinkError("%s changes the pump: it needs --key-file" % name)
            line = encode_line(name, args, self.key, self._next_counter())
        else:
            line = encode_line(name, args)
        reset = getattr(self.port, "reset_input_buffer", None)
        if reset is not None:
            reset()  # a late reply to an earlier request must not be taken for this one
        self.port.write(line)
        reply, raw = self._read_reply(name)
        if reply.get("ok") is not True:
            raise PumpRefused(reply, raw)
        return reply, raw

    def _next_counter(self):
        if self.counter_file is not None:
            return self.counter_file.next()
        return self.request(AUTH_COMMAND)[0]["ctr"] + 1

    def _read_reply(self, name):
        deadline = time.monotonic() + self.timeout_s
        pending = b""
        while True:
            pending += self.port.readline()
            if pending.endswith(b"\n"):
                raw = pending.decode("utf-8", "replace").strip()
                pending = b""
                try:
                    reply = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(reply, dict) and "ok" in reply:
                    return reply, raw
            if time.monotonic() >= deadline:
                raise NoAnswer("no reply to %s within %g s" % (name, self.timeout_s))
