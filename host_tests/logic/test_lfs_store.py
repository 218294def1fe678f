"""pump.store and pump.eventlog on their real filesystem: LittleFS v2 (as on
the RP2040) through hw.flashfs.FlashFS, mounted on a RAM block device.

MicroPython only: CPython has no `vfs` module, so there every test returns at
once. The block device (hw/sim/ramflash.py) can lose power during its n-th
program or erase, which checks what the store's power-cut argument assumes
of LittleFS: rename is atomic and a file's data is durable once it is closed.
"""
try:
    import vfs
except ImportError:  # CPython
    vfs = None

from hw.flashfs import FlashFS
from hw.sim.ramflash import RamNor
from pump.eventlog import EventLog
from pump.store import EMPTY, OK, RecordStore

MOUNT = "/lfs_store_test"
BLOCK_BYTES = 256  # small blocks keep the RAM device small on a 160K heap
BLOCKS = 28


def small_flash():
    """A 7 KiB device: small blocks keep it inside a 160K heap."""
    return RamNor(BLOCKS, BLOCK_BYTES)


def mounted(device, format_first=False):
    """FlashFS over LittleFS on `device`, mounted at MOUNT (a boot)."""
    if format_first:
        vfs.VfsLfs2.mkfs(device)
    vfs.mount(vfs.VfsLfs2(device), MOUNT)
    return FlashFS(MOUNT + "/data")


def unmount():
    try:
        vfs.umount(MOUNT)
    except OSError:
        pass


def test_record_survives_a_remount_on_littlefs():
    if vfs is None:
        return
    device = small_flash()
    try:
        fs = mounted(device, format_first=True)
        store = RecordStore(fs, "state", 1)
        assert store.load() == (None, EMPTY)
        for payload in (b"first", b"second", b"third"):
            store.save(payload)
        unmount()
        fs = mounted(device)
        assert RecordStore(fs, "state", 1).load() == (b"third", OK)
        assert fs.listdir() == ["state.a", "state.b"]
    finally:
        unmount()


def test_event_log_wraps_and_continues_after_a_remount_on_littlefs():
    if vfs is None:
        return
    device = small_flash()
    try:
        fs = mounted(device, format_first=True)
        log = EventLog(fs, "events", 20)
        for seq in range(1, 51):
            log.append(seq * 10, 3, seq, -seq)
        unmount()
        log = EventLog(mounted(device), "events", 20)
        assert (log.count, log.damaged) == (50, 0)
        assert log.append(510, 4) == 51
        assert [e[0] for e in log.newest(20)] == list(range(51, 31, -1))
        assert log.newest(2) == [(51, 510, 4, 0, 0), (50, 500, 3, 50, -50)]
    finally:
        unmount()


OLD_STATE = b"committed" + bytes(200)  # over LittleFS's inline limit: its own block
NEW_STATE = b"new one" + bytes(200)


def boot_and_run(device, state, first_seq, last_seq):
    """Boot on `device`, save `state`, append entries first_seq..last_seq."""
    fs = mounted(device)
    RecordStore(fs, "state", 1).save(state)
    log = EventLog(fs, "events", 8)
    for seq in range(first_seq, last_seq + 1):
        log.append(seq, 1, seq)


def test_power_cut_during_every_program_or_erase_of_saves_and_appends_on_littlefs():
    if vfs is None:
        return
    try:
        device = small_flash()
        mounted(device, format_first=True)
        unmount()
        boot_and_run(device, OLD_STATE, 1, 3)
        unmount()
        before = bytes(device.data)
        device.changes = 0
        boot_and_run(device, NEW_STATE, 4, 12)  # the log wraps
        unmount()
        for changes in range(device.changes):
            device.data[:] = before
            device.changes_left = changes
            try:
                boot_and_run(device, NEW_STATE, 4, 12)
                assert False, "the power cut did not happen"
            except OSError:
                pass
            unmount()
            device.changes_left = -1  # power back: boot on what the flash holds
            fs = mounted(device)
            assert RecordStore(fs, "state", 1).load() in ((OLD_STATE, OK), (NEW_STATE, OK)), changes
            log = EventLog(fs, "events", 8)
            assert log.count >= 3, changes
            assert [e[0] for e in log.newest(8)] == list(range(log.count, max(0, log.count - 8), -1)), changes
            unmount()
    finally:
        unmount()
