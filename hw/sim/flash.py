"""In-memory flash filesystem for the simulator and tests, with power cuts.

It has the interface the pump logic writes through (see hw/flashfs.py):
`open(name, mode)` returning a file with read/readinto/write/seek/tell/flush/
close (usable with `with`), `rename(old, new)`, `remove(name)`, `listdir()`,
`sync()`. Binary modes only: "rb", "wb", "ab", "r+b".

The model is deliberately harsher than LittleFS, so that code which survives
it survives the board:
- bytes written to a file stay in RAM until `flush()` or `close()` programs
  them (LittleFS commits a file at sync/close, and MicroPython's flush is a
  sync); a power cut loses them;
- programming is not atomic: the operation the power dies in may leave only a
  prefix of its bytes, or all of them with one bit flipped (LittleFS is
  copy-on-write and would show the old content instead);
- opening with "wb" truncates the file at once;
- rename (replacing the target), remove and file creation are atomic, as
  LittleFS guarantees.

An operation is one call of open, read, readinto, write, flush, close,
rename, remove, listdir or sync (seek and tell only move a position in RAM).
Power cuts: `cut_power_after(n)` lets the next n operations happen (the n-th
torn or bit-flipped if asked, if it programs bytes); every later one raises
`PowerCut` and changes nothing until `restore_power()`, which is the reboot:
files opened before it are dead. Operations are counted in `ops`, programs
in `writes` and programmed bytes in `bytes_written`: that is the wear figure.
Nothing here is random and `listdir()` is sorted, so a campaign is
reproducible bit for bit on CPython and MicroPython.

Flash takes time, as on the board: a program costs PROGRAM_MS plus a ms per
PAGE_BYTES, a rename or remove (a metadata commit, often with an erase)
COMMIT_MS. `spend_ms`, when set (the simulated board sets it), is called
with that time, so the firmware's clock and the physics see it pass.
"""
import errno

_MODES = ("rb", "wb", "ab", "r+b")
PROGRAM_MS = 2     # W25Q page program ~0.7 ms, plus LittleFS's own reads and CRC
PAGE_BYTES = 256
COMMIT_MS = 30     # a 4 KiB sector erase is ~45 ms typical; not every commit erases


class PowerCut(BaseException):
    """The supply died. A BaseException, so that the firmware's `except
    Exception` or `except OSError` cannot swallow it and go on running after
    the power is gone, which a real CPU could not do."""


class FakeFlash:
    def __init__(self, files=None):
        """`files`: optional {name: bytes} to start from (see `snapshot`)."""
        self._files = {}
        for name in files or ():
            self._files[name] = bytearray(files[name])
        self.ops = 0
        self.writes = 0
        self.bytes_written = 0
        self._boot = 0
        self._powered = True
        self._last_op = None
        self._keep_bytes = None
        self._flip_bit = None
        self._damaging = False
        self._worn_out = False
        self._refusals = 0
        self.spend_ms = None

    # -- fault injection (the test's hand, not counted as operations) --

    def cut_power_after(self, n, keep_bytes=None, flip_bit=None):
        """Operations ops+1 .. ops+n happen; the rest raise PowerCut.

        If operation ops+n programs bytes and damage is asked for, the power
        dies while it programs: `keep_bytes` keeps only that many of its
        bytes (a torn write), `flip_bit` inverts bit number `flip_bit`
        (modulo the bits programmed) of what lands, and the operation raises
        PowerCut instead of returning. n == 0 cuts now.
        """
        self._keep_bytes, self._flip_bit = keep_bytes, flip_bit
        if n <= 0:
            self._powered = False
        else:
            self._last_op = self.ops + n

    def restore_power(self):
        """Reboot: power back, every file handle from before is stale."""
        self._powered = True
        self._last_op = None
        self._damaging = False
        self._boot += 1

    def wear_out(self):
        """The flash stops taking writes (worn out, or its chip failed):
        from now on every program fails with EIO, as LittleFS reports it."""
        self._worn_out = True

    def refuse_writes(self, count):
        """Bench fault (pump.bench): the next `count` programs fail with EIO,
        as after wear_out() (0: none)."""
        self._refusals = count

    @property
    def powered(self):
        return self._powered

    def flip_stored_bit(self, name, bit):
        """Bit rot in a stored file: invert bit number `bit` of it."""
        self._files[name][bit // 8] ^= 1 << (bit % 8)

    def truncate_stored(self, name, size):
        """A stored file that lost its tail (as if torn by a filesystem
        without copy-on-write)."""
        self._files[name] = self._files[name][:size]

    def snapshot(self):
        """{name: bytes} of everything durable, for comparing or cloning."""
        return dict((name, bytes(data)) for name, data in self._files.items())

    def clone(self):
        """A new powered flash with the same durable files and zero counts."""
        return FakeFlash(self.snapshot())

    # -- the filesystem interface --

    def open(self, name, mode="rb"):
        self._op()
        if mode not in _MODES:
            raise ValueError("FakeFlash: binary modes only, not %r" % mode)
        if mode == "wb" or (mode == "ab" and name not in self._files):
            self._files[name] = bytearray()
        elif name not in self._files:
            raise OSError(errno.ENOENT, name)
        return _FakeFile(self, self._files[name], mode)

    def rename(self, old, new):
        self._op()
        self._spend(COMMIT_MS)
        if old not in self._files:
            raise OSError(errno.ENOENT, old)
        self._files[new] = self._files.pop(old)

    def remove(self, name):
        self._op()
        self._spend(COMMIT_MS)
        if name not in self._files:
            raise OSError(errno.ENOENT, name)
        del self._files[name]

    def listdir(self):
        self._op()
        return sorted(self._files)

    def sync(self):
        self._op()

    # -- internals --

    def _spend(self, ms):
        if self.spend_ms is not None:
            self.spend_ms(ms)

    def _op(self):
        """Count one operation, or refuse it if the power is off."""
        if not self._powered:
            raise PowerCut("flash operation after the power cut")
        self.ops += 1
        self._damaging = self.ops == self._last_op
        if self._damaging:
            self._powered = False  # this operation is the last one

    def _program(self, data, pending):
        """Program the (pos, bytes) writes of `pending` into durable `data`,
        damaged as asked if this is the operation the power dies in."""
        total = 0
        for _pos, chunk in pending:
            total += len(chunk)
        if not total:
            return
        if self._refusals:
            self._refusals -= 1
            raise OSError(errno.EIO, "flash program failed")
        if self._worn_out:
            raise OSError(errno.EIO, "flash program failed")
        self._spend(PROGRAM_MS + total // PAGE_BYTES)
        keep, flip = total, -1
        if self._damaging:
            if self._keep_bytes is not None:
                keep = min(self._keep_bytes, total)
            if self._flip_bit is not None:
                flip = self._flip_bit % (8 * total)
        self.writes += 1
        self.bytes_written += keep
        done = 0
        for pos, chunk in pending:
            if done >= keep:
                break
            chunk = bytearray(chunk[:keep - done])
            if done <= flip // 8 < done + len(chunk):
                chunk[flip // 8 - done] ^= 1 << (flip % 8)
            _put(data, pos, chunk)
            done += len(chunk)
        if self._damaging and (self._keep_bytes is not None or self._flip_bit is not None):
            raise PowerCut("power died while programming")


def _put(data, pos, chunk):
    """Write `chunk` into bytearray `data` at `pos`, zero-filling any gap."""
    if pos > len(data):
        data.extend(bytes(pos - len(data)))
    data[pos:pos + len(chunk)] = chunk


class _FakeFile:
    """One open file: reads see durable bytes plus this handle's unflushed
    writes; flush/close program the unflushed writes."""

    def __init__(self, flash, data, mode):
        self._flash = flash
        self._data = data
        self._boot = flash._boot
        self._append = mode == "ab"
        self._view = None if mode == "rb" else bytearray(data)
        self._pending = []
        self._pos = len(data) if self._append else 0
        self._closed = False

    def _live(self):
        self._flash._op()
        if self._closed:
            raise ValueError("I/O operation on closed file")
        if self._boot != self._flash._boot:
            raise OSError(errno.EBADF, "file opened before the reboot")

    def read(self, size=-1):
        self._live()
        source = self._data if self._view is None else self._view
        end = len(source) if size is None or size < 0 else self._pos + size
        chunk = bytes(source[self._pos:end])
        self._pos += len(chunk)
        return chunk

    def readinto(self, buf):
        chunk = self.read(len(buf))
        buf[:len(chunk)] = chunk
        return len(chunk)

    def write(self, buf):
        self._live()
        if self._view is None:
            raise OSError(errno.EBADF, "file opened read-only")
        if self._append:
            self._pos = len(self._view)
        chunk = bytes(buf)
        _put(self._view, self._pos, chunk)
        self._pending.append((self._pos, chunk))
        self._pos += len(chunk)
        return len(chunk)

    def seek(self, offset, whence=0):
        base = (0, self._pos, len(self._data if self._view is None else self._view))[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self):
        return self._pos

    def flush(self):
        self._live()
        self._flash._program(self._data, self._pending)
        self._pending = []

    def close(self):
        if self._closed:
            return
        self.flush()
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
