"""The board's flash filesystem as the pump logic sees it: flat file names in
one folder of the real VFS.

On the RP2040 the folder is on the internal-flash LittleFS (e.g. "/data"); on
the unix port it can be any folder, or a LittleFS mounted on a RAM block
device (how host_tests/logic/test_lfs_store.py runs the store on its real
filesystem). The pump logic only ever names files, so the same code runs
over hw.sim.flash.FakeFlash in the simulator.

What pump.store and pump.eventlog rely on, and LittleFS gives: a file's
writes are committed at flush/close, and rename replaces its target
atomically, so a power cut leaves either the old or the new file.
"""
import errno
import os

# CPython's os.rename refuses to replace a file on Windows; os.replace is the
# atomic replace there. MicroPython has only rename, which replaces.
_replace = getattr(os, "replace", os.rename)
# os.sync exists on the rp2 port (it syncs every mounted filesystem) but not
# on the unix port.
_sync = getattr(os, "sync", None)


class FlashFS:
    def __init__(self, root):
        """`root`: the folder that holds the pump's files; created if missing
        (first boot of a freshly flashed board)."""
        self.root = root.rstrip("/")
        self._refusals = 0
        try:
            os.stat(self.root or "/")
        except OSError:
            os.mkdir(self.root)

    def refuse_writes(self, count):
        """Bench fault (protocol `bench`, jumper only): the next `count`
        changes fail with EIO, as a failing flash chip's would (0: none).
        One is enough to stop the pump; more would also refuse the counter
        of the `bench clear` that ends the test."""
        self._refusals = count

    def _path(self, name):
        return self.root + "/" + name

    def _change(self):
        if self._refusals:
            self._refusals -= 1
            raise OSError(errno.EIO, "flash refused a write (bench)")

    def open(self, name, mode="rb"):
        if mode != "rb":
            self._change()
        return open(self._path(name), mode)

    def rename(self, old, new):
        self._change()
        _replace(self._path(old), self._path(new))

    def remove(self, name):
        self._change()
        os.remove(self._path(name))

    def listdir(self):
        return sorted(os.listdir(self.root or "/"))

    def sync(self):
        if _sync is not None:
            _sync()
