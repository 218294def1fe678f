"""NOR flash in RAM, as a block device for MicroPython's vfs.VfsLfs2.

The unix port has LittleFS but no flash: this is the flash under it, with
the extended block interface LittleFS uses (erase sets a block to 0xFF,
programs write at an offset). It counts erases per block and programs,
which is the wear figure, and it can lose power during its n-th program or
erase (half of that operation lands, then it and every later one fail with
EIO), which is how the store's power-cut argument is checked against real
LittleFS. LittleFsFlash puts the pump's filesystem on it.
"""
from array import array

from hw.flashfs import FlashFS

EIO = 5
IOCTL_BLOCK_COUNT, IOCTL_BLOCK_SIZE, IOCTL_ERASE = 4, 5, 6


class RamNor:
    def __init__(self, blocks, block_bytes):
        self.blocks = blocks
        self.block_bytes = block_bytes
        self.data = bytearray(blocks * block_bytes)
        erased = b"\xff" * block_bytes
        for block in range(blocks):  # block by block: no second copy of the whole device
            self.data[block * block_bytes:(block + 1) * block_bytes] = erased
        self.erases = array("I", [0] * blocks)
        self.programs = 0
        self.programmed_bytes = 0
        self.changes = 0         # programs and erases so far
        self.changes_left = -1   # the power dies during the next change after these; -1: never

    @property
    def powered(self):
        return self.changes_left != 0

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


class LittleFsFlash:
    """The pump's filesystem as the board has it, for the unix port: FlashFS
    over LittleFS v2 over a RamNor. When the device's power dies during a
    change, every later change fails (EIO) and `powered` turns false; the
    scenario runner then reboots the pump, and `restore_power` remounts
    whatever the flash holds, as a board does at boot."""

    def __init__(self, device, mount="/pump_lfs", progsize=None):
        import vfs  # the unix port's; CPython has none
        self._vfs = vfs
        self.device = device
        self.mount_point = mount
        # progsize 256 is the rp2 port's; left out, LittleFS's default
        self._options = {"progsize": progsize} if progsize else {}
        vfs.VfsLfs2.mkfs(device, **self._options)
        self._mount()

    def _mount(self):
        self._vfs.mount(self._vfs.VfsLfs2(self.device, **self._options), self.mount_point)
        self.fs = FlashFS(self.mount_point + "/data")

    def unmount(self):
        try:
            self._vfs.umount(self.mount_point)
        except OSError:
            pass

    @property
    def powered(self):
        return self.device.powered

    @property
    def writes(self):
        return self.device.programs

    def cut_power_after(self, changes):
        """The power dies during the device's change number `changes` from now."""
        self.device.changes_left = changes

    def restore_power(self):
        self.device.changes_left = -1
        self.unmount()
        self._mount()

    def open(self, name, mode="rb"):
        return self.fs.open(name, mode)

    def rename(self, old, new):
        self.fs.rename(old, new)

    def remove(self, name):
        self.fs.remove(name)

    def listdir(self):
        return self.fs.listdir()

    def sync(self):
        self.fs.sync()
