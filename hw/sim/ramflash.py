"""NOR flash in RAM, as a block device for MicroPython's vfs.VfsLfs2.

The unix port has LittleFS but no flash: this is the flash under it, with
the extended block interface LittleFS uses (erase sets a block to 0xFF,
programs write at an offset). It counts erases per block and programs,
which is the wear figure, and it can lose power during its n-th program or
erase (half of that operation lands, then it and every later one fail with
EIO), which is how the store's power-cut argument is checked against real
LittleFS.
"""
from array import array

EIO = 5
IOCTL_BLOCK_COUNT, IOCTL_BLOCK_SIZE, IOCTL_ERASE = 4, 5, 6


class RamNor:
    def __init__(self, blocks, block_bytes):
        self.blocks = blocks
        self.block_bytes = block_bytes
        self.data = bytearray(b"\xff" * (blocks * block_bytes))
        self.erases = array("I", [0] * blocks)
        self.programs = 0
        self.programmed_bytes = 0
        self.changes = 0         # programs and erases so far
        self.changes_left = -1   # the power dies during the next change after these; -1: never

    def total_erases(self):
        return sum(self.erases)

    def _powered(self):
        """Count one change; False if the power dies during it."""
        self.changes += 1
        if self.changes_left == 0:
            return False
        self.changes_left -= 1
        return True

    def readblocks(self, block, buf, offset=0):
        at = block * self.block_bytes + offset
        buf[:] = self.data[at:at + len(buf)]

    def writeblocks(self, block, buf, offset=0):
        at = block * self.block_bytes + offset
        if not self._powered():
            half = len(buf) // 2
            self.data[at:at + half] = buf[:half]
            return -EIO
        self.data[at:at + len(buf)] = buf
        self.programs += 1
        self.programmed_bytes += len(buf)
        return 0

    def ioctl(self, op, arg):
        if op == IOCTL_BLOCK_COUNT:
            return self.blocks
        if op == IOCTL_BLOCK_SIZE:
            return self.block_bytes
        if op == IOCTL_ERASE:
            at = arg * self.block_bytes
            if not self._powered():
                half = self.block_bytes // 2
                self.data[at:at + half] = b"\xff" * half
                return -EIO
            self.data[at:at + self.block_bytes] = b"\xff" * self.block_bytes
            self.erases[arg] += 1
        return 0
