"""Flash-backed record: the pump's state, saved so that a power cut never
leaves it half-written and a restart never misreads it.

Why: after a power cut the pump must resume with the prescription, the
reservoir estimate and the titration history it had, or stay stopped with a
storage_fault alarm. Resuming on a torn, corrupt or misread record would be a
dosing error, so every way a record can be bad is detected, not guessed at.

Layout: two slot files, `<name>.a` and `<name>.b`, each a complete record

    magic b"IBPr" | format version u16 | sequence u32 | payload length u32 |
    CRC32 u32 | payload

little-endian; the CRC (binascii.crc32) covers the 14 header bytes before it
and the payload. The valid record with the highest sequence is the current
one; the other slot holds the one before it.

Power-cut argument. save() writes the new record to `<name>.new`, closes it
(which flushes: LittleFS commits the file), syncs, and only then renames it
over the slot holding the *older* record, then syncs again. No slot is ever
opened for writing.
- A cut before the rename leaves both slots as they were: load() returns the
  last committed record (`.new` is never read, and is rewritten by the next
  save).
- Rename is atomic (LittleFS guarantees it), so the older slot holds either
  its old record or the complete new one, and the new one was already durable
  when it was renamed.
- The newer slot is not touched at all, so the record before stays available.
So after any cut load() returns the record of the last save that returned,
or of the save that was cut after its rename; never a mixture, never nothing.
A slot that exists but fails a check can then only come from flash damage (or
a filesystem without atomic rename): load() uses the other slot and says
FALLBACK, so that the controller logs it.

Versions. A record written by newer firmware is a FAULT: its payload may mean
something this firmware cannot read, and falling back to the older slot would
resume stale state (an old prescription). An older record is passed through
`migrate(version, payload) -> payload`, or is a FAULT when there is no
migration (migrate is None or returns None).

Flash cost of one save: 7 filesystem operations (open, write header, write
payload, close, sync, rename, sync) and one program of 18 + payload bytes.
On the RP2040's LittleFS (4 KB blocks) that measured, amortized, 0.3 block
erases for a record under ~490 bytes (kept inline in metadata) and 1.4 for
a larger one (a fresh block for the new file plus metadata).
"""
import binascii
import errno
import struct

from pump.compat import const

MAGIC = b"IBPr"
HEADER_BYTES = const(18)
_HEAD_FIELDS = "<4sHII"  # magic, version, seq, length: what the CRC covers
_HEADER = _HEAD_FIELDS + "I"  # then the CRC
_CRC_AT = const(14)
MAX_PAYLOAD_BYTES = const(8192)

OK = "ok"
EMPTY = "empty"
FALLBACK = "fallback"
FAULT = "fault"

_DAMAGED = "damaged"  # _read's answer for a file that fails a check


class RecordStore:
    def __init__(self, fs, name, version, migrate=None):
        """`fs`: the board's filesystem; `name`: file name stem; `version`:
        the payload format this firmware writes (0..65535)."""
        self._fs = fs
        self._slots = (name + ".a", name + ".b")
        self._new = name + ".new"
        self.version = version
        self._migrate = migrate
        self.writes = 0  # records committed by this object (report: flash_writes)
        self.reason = None  # why the last load() was FALLBACK or FAULT
        self._seq = None  # sequence of the newest valid record; None: not scanned
        self._target = 0  # the slot the next save replaces (the older one)

    def load(self):
        """(payload bytes or None, status): OK, EMPTY, FALLBACK or FAULT."""
        newest, damaged = self._scan()
        self.reason = "corrupt" if damaged else None
        if newest is None:
            return None, (FAULT if damaged else EMPTY)
        version, payload = newest
        if version > self.version:
            return self._fault("newer_version")
        if version < self.version:
            payload = self._migrate(version, payload) if self._migrate else None
            if payload is None:
                return self._fault("no_migration")
        return payload, (FALLBACK if damaged else OK)

    def save(self, payload):
        """Commit `payload` (bytes) as the current record; see the module
        docstring for why a power cut anywhere in here is safe."""
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise ValueError("record of %d bytes, over %d" % (len(payload), MAX_PAYLOAD_BYTES))
        if self._seq is None:
            self._scan()  # sets _seq
        seq = self._seq + 1  # pyright: ignore[reportOptionalOperand]
        head = struct.pack(_HEAD_FIELDS, MAGIC, self.version, seq, len(payload))
        crc = binascii.crc32(payload, binascii.crc32(head))
        with self._fs.open(self._new, "wb") as f:
            f.write(head + struct.pack("<I", crc))
            f.write(payload)
        self._fs.sync()
        self._fs.rename(self._new, self._slots[self._target])
        self._fs.sync()
        self._seq = seq
        self._target ^= 1
        self.writes += 1

    def _fault(self, reason):
        self.reason = reason
        return None, FAULT

    def _scan(self):
        """Read both slots; returns ((version, payload) of the newest valid
        record or None, whether a slot exists but is damaged). Remembers the
        newest sequence and which slot the next save replaces."""
        newest, newest_seq, damaged = None, 0, False
        self._target = 0
        for index in (0, 1):
            record = self._read(self._slots[index])
            if record is _DAMAGED:
                damaged = True
            elif isinstance(record, tuple) and (newest is None or record[0] > newest_seq):
                newest_seq, newest = record[0], record[1:]
                self._target = 1 - index
        self._seq = newest_seq
        return newest, damaged

    def _read(self, name):
        """(seq, version, payload) of the record in file `name`; None if
        there is no such file; _DAMAGED if it fails any check."""
        try:
            f = self._fs.open(name, "rb")
        except OSError as exc:
            return None if exc.args[0] == errno.ENOENT else _DAMAGED
        with f:
            head = f.read(HEADER_BYTES)
            if len(head) < HEADER_BYTES:
                return _DAMAGED
            magic, version, seq, length, crc = struct.unpack(_HEADER, head)
            if magic != MAGIC or length > MAX_PAYLOAD_BYTES:
                return _DAMAGED
            payload = f.read(length + 1)  # one byte more shows trailing junk
        if len(payload) != length or binascii.crc32(payload, binascii.crc32(head[:_CRC_AT])) != crc:
            return _DAMAGED
        return seq, version, payload
