"""pump.store: atomic, checksummed records with an A/B fallback, and the fake
flash they are tested on (hw.sim.flash), including a power cut after every
single filesystem operation of a run of saves and appends."""
import struct

from expect import raises
from hw.sim.flash import FakeFlash, PowerCut
from pump.eventlog import EventLog
from pump.store import EMPTY, FALLBACK, FAULT, HEADER_BYTES, MAX_PAYLOAD_BYTES, OK, RecordStore

VERSION = 3


def saved(*payloads, version=VERSION):
    """A flash on which `payloads` were saved in order."""
    flash = FakeFlash()
    store = RecordStore(flash, "state", version)
    for payload in payloads:
        store.save(payload)
    return flash


def load(flash, version=VERSION, migrate=None):
    """What a freshly booted firmware reads back."""
    return RecordStore(flash, "state", version, migrate).load()


def newest_slot(flash):
    """The slot file with the highest sequence number (header bytes 6..9)."""
    files = flash.snapshot()
    return max(("state.a", "state.b"), key=lambda name: struct.unpack_from("<I", files[name], 6)[0])


# -- the fake flash: the store's tests are only as good as it is --

def test_fake_flash_keeps_unflushed_writes_in_ram():
    flash = FakeFlash()
    f = flash.open("x", "wb")
    f.write(b"hello")
    flash.cut_power_after(0)
    flash.restore_power()
    assert flash.snapshot() == {"x": b""}


def test_fake_flash_refuses_every_operation_after_the_cut_and_changes_nothing():
    flash = FakeFlash({"x": b"old"})
    flash.cut_power_after(1)
    flash.listdir()
    before = flash.snapshot()
    for action in (lambda: flash.open("x", "wb"), lambda: flash.rename("x", "y"),
                   lambda: flash.remove("x"), flash.listdir, flash.sync):
        assert raises(PowerCut, action)
    assert flash.snapshot() == before
    assert not flash.powered


def test_fake_flash_tears_the_program_the_power_dies_in():
    flash = FakeFlash()
    f = flash.open("x", "wb")
    f.write(b"abcdef")
    flash.cut_power_after(1, keep_bytes=2)
    assert raises(PowerCut, f.flush)
    assert flash.snapshot() == {"x": b"ab"}


def test_fake_flash_flips_one_bit_of_the_program_the_power_dies_in():
    flash = FakeFlash()
    f = flash.open("x", "wb")
    f.write(b"\x00\x00")
    flash.cut_power_after(1, flip_bit=9)
    assert raises(PowerCut, f.close)
    assert flash.snapshot() == {"x": b"\x00\x02"}


def test_fake_flash_counts_operations_programs_and_bytes():
    flash = FakeFlash()
    with flash.open("x", "wb") as f:
        f.write(b"abc")
        f.write(b"de")
    flash.rename("x", "y")
    assert (flash.ops, flash.writes, flash.bytes_written) == (5, 1, 5)


def test_fake_flash_file_handles_die_with_the_reboot():
    flash = FakeFlash()
    f = flash.open("x", "wb")
    flash.cut_power_after(0)
    flash.restore_power()
    assert raises(OSError, lambda: f.write(b"late"))


def test_fake_flash_seek_write_replaces_bytes_in_place():
    flash = FakeFlash({"x": b"abcdef"})
    with flash.open("x", "r+b") as f:
        f.seek(2)
        f.write(b"ZZ")
    assert flash.snapshot() == {"x": b"abZZef"}


def test_fake_flash_rename_replaces_the_target_and_missing_files_raise():
    flash = FakeFlash({"x": b"new", "y": b"old"})
    flash.rename("x", "y")
    assert flash.snapshot() == {"y": b"new"}
    assert raises(OSError, lambda: flash.open("x", "rb"))
    assert raises(OSError, lambda: flash.remove("x"))


def test_fake_flash_clone_is_independent_of_the_original():
    flash = FakeFlash({"x": b"a"})
    copy = flash.clone()
    copy.remove("x")
    assert flash.snapshot() == {"x": b"a"} and copy.snapshot() == {}


# -- load(): every status --

def test_load_of_empty_flash_is_empty():
    assert load(FakeFlash()) == (None, EMPTY)


def test_saved_record_loads_back_after_a_restart():
    assert load(saved(b"dose 500")) == (b"dose 500", OK)


def test_empty_payload_is_a_record_too():
    assert load(saved(b"")) == (b"", OK)


def test_newest_of_several_saves_wins():
    assert load(saved(b"one", b"two", b"three", b"four", b"five")) == (b"five", OK)


def test_saves_alternate_between_two_slots_and_keep_the_previous_record():
    flash = saved(b"one", b"two", b"three")
    assert sorted(flash.snapshot()) == ["state.a", "state.b"]
    flash.remove(newest_slot(flash))
    assert load(flash) == (b"two", OK)


def test_every_bit_flip_in_the_newest_record_falls_back_to_the_previous():
    flash = saved(b"first", b"second")
    name = newest_slot(flash)
    for bit in range(8 * (HEADER_BYTES + len(b"second"))):
        damaged = flash.clone()
        damaged.flip_stored_bit(name, bit)
        assert load(damaged) == (b"first", FALLBACK), bit


def test_newest_record_torn_at_every_length_falls_back_to_the_previous():
    flash = saved(b"first", b"second")
    name = newest_slot(flash)
    for size in range(HEADER_BYTES + len(b"second")):
        damaged = flash.clone()
        damaged.truncate_stored(name, size)
        assert load(damaged) == (b"first", FALLBACK), size


def test_trailing_bytes_after_a_record_make_it_damaged():
    flash = saved(b"first", b"second")
    with flash.open(newest_slot(flash), "ab") as f:
        f.write(b"junk")
    assert load(flash) == (b"first", FALLBACK)


def test_fallback_names_its_reason():
    flash = saved(b"first", b"second")
    flash.flip_stored_bit(newest_slot(flash), 0)
    store = RecordStore(flash, "state", VERSION)
    store.load()
    assert store.reason == "corrupt"


def test_only_record_damaged_is_a_fault():
    flash = saved(b"only")
    flash.flip_stored_bit("state.a", 100)
    assert load(flash) == (None, FAULT)


def test_both_records_damaged_is_a_fault():
    flash = saved(b"one", b"two")
    flash.truncate_stored("state.a", 3)
    flash.flip_stored_bit("state.b", 40)
    assert load(flash) == (None, FAULT)


def test_save_after_a_fallback_replaces_the_damaged_record():
    flash = saved(b"first", b"second")
    flash.flip_stored_bit(newest_slot(flash), 77)
    store = RecordStore(flash, "state", VERSION)
    assert store.load() == (b"first", FALLBACK)
    store.save(b"third")
    flash.remove(newest_slot(flash))
    assert load(flash) == (b"first", OK)


def test_save_that_never_reached_its_rename_leaves_the_last_record():
    flash = saved(b"first")
    with flash.open("state.new", "wb") as f:
        f.write(b"IBPr and some half-written record")
    assert load(flash) == (b"first", OK)
    RecordStore(flash, "state", VERSION).save(b"second")
    assert load(flash) == (b"second", OK)


# -- format versions --

def test_newer_format_version_is_a_fault_and_never_falls_back_to_stale_state():
    flash = saved(b"old firmware")
    RecordStore(flash, "state", VERSION + 1).save(b"new firmware")
    store = RecordStore(flash, "state", VERSION)
    assert store.load() == (None, FAULT)
    assert store.reason == "newer_version"


def test_older_format_version_is_migrated():
    flash = saved(b"v2 record", version=2)

    def migrate(version, payload):
        return b"from %d: %s" % (version, payload)
    assert load(flash, migrate=migrate) == (b"from 2: v2 record", OK)


def test_older_format_version_without_a_migration_is_a_fault():
    flash = saved(b"v1 record", version=1)
    for migrate in (None, lambda version, payload: None):
        store = RecordStore(flash, "state", VERSION, migrate)
        assert store.load() == (None, FAULT)
        assert store.reason == "no_migration"


def test_magic_of_another_file_is_not_a_record():
    flash = FakeFlash({"state.a": b"x" * 40})
    assert load(flash) == (None, FAULT)


# -- limits and cost --

class Oversized:
    """Stands in for a payload one byte over the limit without taking 8 KB
    of a 160 KB heap."""

    def __len__(self):
        return MAX_PAYLOAD_BYTES + 1


def test_oversized_payload_is_refused_before_touching_flash():
    flash = FakeFlash()
    store = RecordStore(flash, "state", VERSION)
    assert raises(ValueError, lambda: store.save(Oversized()))
    assert flash.snapshot() == {} and flash.ops == 0


def test_save_counts_committed_writes():
    store = RecordStore(FakeFlash(), "state", VERSION)
    for payload in (b"a", b"b", b"c"):
        store.save(payload)
    assert store.writes == 3


def test_one_save_costs_seven_operations_and_one_program_of_header_plus_payload():
    flash = saved(b"warm up")
    store = RecordStore(flash, "state", VERSION)
    store.load()
    ops, writes, written = flash.ops, flash.writes, flash.bytes_written
    store.save(bytes(300))
    cost = (flash.ops - ops, flash.writes - writes, flash.bytes_written - written)
    assert cost == (7, 1, HEADER_BYTES + 300)


# -- power cut after every filesystem operation of a run --

LOG_CAPACITY = 4
SAVES = 4
APPENDS_PER_SAVE = 3
# (keep_bytes, flip_bit) for the operation the power dies in
DAMAGE = ((None, None), (0, None), (5, None), (None, 3), (None, 150))


def payload(i):
    return b"state %d " % i + bytes(i * 7)


def entry(seq):
    """The log entry with this seq in the campaign: a pure function of it."""
    return (seq, 1000 + seq, seq % 5, -seq, seq * 1000)


def run(flash, done):
    """The campaign's run: saves and appends interleaved, the log wrapping
    several times. `done` counts what returned, i.e. what is committed."""
    store = RecordStore(flash, "state", VERSION)
    log = EventLog(flash, "events", LOG_CAPACITY)
    for i in range(SAVES):
        store.save(payload(i))
        done["saves"] += 1
        for _ in range(APPENDS_PER_SAVE):
            seq = log.count + 1
            log.append(*entry(seq)[1:])
            done["appends"] += 1


def check_after_cut(flash, done):
    """After the reboot: the last committed record or the one being saved,
    and every committed log entry that has not rolled off."""
    state, status = load(flash)
    k = done["saves"]
    allowed = ([(None, EMPTY)] if k == 0 else [(payload(k - 1), OK)]) + [(payload(k), OK)]
    assert (state, status) in allowed, (state, status, k)
    log = EventLog(flash, "events", LOG_CAPACITY)
    n = done["appends"]
    assert log.count in (n, n + 1), (log.count, n)
    expected = [entry(seq) for seq in range(log.count, max(0, log.count - LOG_CAPACITY), -1)]
    assert log.newest(LOG_CAPACITY) == expected
    # and the pump can go on after the cut
    RecordStore(flash, "state", VERSION).save(b"after")
    log.append(*entry(log.count + 1)[1:])
    assert load(flash) == (b"after", OK)
    assert log.newest(1) == [entry(log.count)]


def test_power_cut_after_every_operation_never_loses_a_committed_record_or_entry():
    total = FakeFlash()
    run(total, {"saves": 0, "appends": 0})
    for last_op in range(1, total.ops + 1):
        for keep_bytes, flip_bit in DAMAGE:
            flash = FakeFlash()
            done = {"saves": 0, "appends": 0}
            flash.cut_power_after(last_op, keep_bytes, flip_bit)
            try:
                run(flash, done)
                assert last_op == total.ops  # every earlier cut interrupts the run
            except PowerCut:
                pass
            flash.restore_power()
            check_after_cut(flash, done)
