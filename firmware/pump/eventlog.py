"""Event log: a bounded, append-only ring of fixed-size entries in flash.

Why: every alarm, fault, command and restart must leave a trace that a
clinician or a bench tester can read back afterwards, across power cuts,
without the log growing without bound or rewriting flash it does not need to.
The names of the event codes live with the controller; here a code is a
small int and an entry carries two signed 32-bit arguments.

Layout: `<name>.0` .. `<name>.<segments-1>`, each holding up to
`segment_entries` entries of ENTRY_BYTES (22) bytes:

    seq u32 | time_s u32 | code u16 | a i32 | b i32 | CRC32 u32

little-endian; the CRC covers the 18 bytes before it. `seq` numbers entries
from 1 in the order they were appended, so the newest has seq == count.
Appends fill one segment slot by slot; when it is full the next segment in
turn is truncated and filled, and its entries, the oldest, roll off. So the
log always keeps at least the newest `capacity` entries (segments - 1 full
segments) and at most one segment more.

Power cuts: an append programs one slot right after the newest entry (a seek
and write in "r+b", or "wb" for the first slot of a fresh segment), so a cut
can damage only that slot; older entries are in bytes not written again
until their segment's turn comes round. A torn or bit-flipped entry fails its
CRC and is skipped on read (and counted in `damaged` when found on open),
never misread. On open the log scans its segments for the valid entry with
the highest seq and continues in the slot after it, over any torn one.

Cost: an append is 3 filesystem operations (open, write, close) and one
program of 22 bytes, whatever the capacity: nothing else is rewritten.
Segments of 16 entries (352 bytes) stay under LittleFS's inline-file limit
on the RP2040 (512 bytes: 4 KB blocks, progsize 256), so an append is a small
metadata commit, about 0.12 block erases amortized (measured on a RAM device
of that geometry), instead of a copy of the file's last 4 KB block (0.38 with
32-entry segments).
"""
import binascii
import struct

from pump.compat import const

ENTRY_BYTES = const(22)
_FIELDS = "<IIHii"  # seq, time_s, code, a, b: what the CRC covers
_CRC_AT = const(18)
SEGMENT_ENTRIES = const(16)


class EventLog:
    def __init__(self, fs, name, capacity):
        """`capacity`: how many of the newest entries are always kept (>= 1).
        Opening scans the segments (reads only) to find where to go on."""
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._fs = fs
        self._name = name
        self.segment_entries = min(SEGMENT_ENTRIES, capacity)
        self.segments = (capacity + self.segment_entries - 1) // self.segment_entries + 1
        self._buf = bytearray(self.segment_entries * ENTRY_BYTES)
        self._entry = bytearray(ENTRY_BYTES)
        self.count = 0  # entries ever appended (report: log_entries)
        self.damaged = 0  # torn or corrupt entries found by the scan on open
        self._segment = 0  # where the next entry goes
        self._slot = 0
        self._scan()

    def append(self, time_s, code, a=0, b=0):
        """Append one entry; returns its seq. Raises ValueError for a field
        that does not fit (CPython's struct would, MicroPython's would wrap)."""
        if not (0 <= time_s <= 0xFFFFFFFF and 0 <= code <= 0xFFFF
                and -0x80000000 <= a <= 0x7FFFFFFF and -0x80000000 <= b <= 0x7FFFFFFF):
            raise ValueError("event field out of range")
        seq = self.count + 1
        entry = self._entry
        struct.pack_into(_FIELDS, entry, 0, seq, time_s, code, a, b)
        struct.pack_into("<I", entry, _CRC_AT, binascii.crc32(memoryview(entry)[:_CRC_AT]))
        name = self._segment_name(self._segment)
        with self._fs.open(name, "r+b" if self._slot else "wb") as f:
            f.seek(self._slot * ENTRY_BYTES)
            f.write(entry)
        self.count = seq
        self._slot += 1
        if self._slot == self.segment_entries:
            self._segment = (self._segment + 1) % self.segments
            self._slot = 0
        return seq

    def newest(self, n, before=None):
        """Up to n entries, newest first, as (seq, time_s, code, a, b); with
        `before`, only those older than seq `before` (a page of the log).
        Damaged entries are skipped. Walks back from the newest slot, so the
        segments are read from newest to oldest and no sort is needed."""
        found = []
        if n <= 0:
            return found
        segment, above = self._segment, self._slot
        if above == 0:  # the next entry opens a fresh segment: start behind it
            segment, above = (segment - 1) % self.segments, self.segment_entries
        for _ in range(self.segments):
            filled = self._read_segment(segment) // ENTRY_BYTES
            for slot in range(min(filled, above) - 1, -1, -1):
                entry = self._decode(slot)
                if entry is not None and (before is None or entry[0] < before):
                    found.append(entry)
                    if len(found) == n:
                        return found
            segment, above = (segment - 1) % self.segments, self.segment_entries
        return found

    def _segment_name(self, index):
        return "%s.%d" % (self._name, index)

    def _read_segment(self, index):
        """Read segment `index` into self._buf; returns the bytes read."""
        try:
            f = self._fs.open(self._segment_name(index), "rb")
        except OSError:
            return 0
        with f:
            return f.readinto(self._buf)

    def _decode(self, slot):
        """The entry in slot `slot` of self._buf, or None if its CRC fails."""
        at = slot * ENTRY_BYTES
        (crc,) = struct.unpack_from("<I", self._buf, at + _CRC_AT)
        if binascii.crc32(memoryview(self._buf)[at:at + _CRC_AT]) != crc:
            return None
        return struct.unpack_from(_FIELDS, self._buf, at)

    def _scan(self):
        """Find the newest valid entry and put the next slot after it."""
        newest_seq, segment, slot = 0, 0, -1
        for index in range(self.segments):
            size = self._read_segment(index)
            if size % ENTRY_BYTES:
                self.damaged += 1  # a torn slot at the end
            for at in range(size // ENTRY_BYTES):
                entry = self._decode(at)
                if entry is None:
                    self.damaged += 1
                elif entry[0] > newest_seq:
                    newest_seq, segment, slot = entry[0], index, at
        self.count = newest_seq
        self._segment, self._slot = segment, slot + 1
        if self._slot == self.segment_entries:
            self._segment, self._slot = (segment + 1) % self.segments, 0
