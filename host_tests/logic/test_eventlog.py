"""pump.eventlog: a bounded ring of CRC-checked entries that keeps the newest,
survives restarts and power cuts, and costs one small program per append."""
from expect import raises
from hw.sim.flash import FakeFlash, PowerCut
from pump.eventlog import ENTRY_BYTES, EventLog


def entry(seq):
    """The entry appended as number `seq` in these tests: (seq, time_s, code, a, b)."""
    return (seq, 7200 + 60 * seq, seq % 9, -3 * seq, 2 ** 31 - seq)


def filled(capacity, n, flash=None):
    """A log of `capacity` on `flash` after appending entries 1..n."""
    log = EventLog(flash or FakeFlash(), "events", capacity)
    for seq in range(1, n + 1):
        assert log.append(*entry(seq)[1:]) == seq
    return log


def expected_newest(count, n):
    return [entry(seq) for seq in range(count, max(0, count - n), -1)]


def test_new_log_is_empty():
    log = EventLog(FakeFlash(), "events", 8)
    assert (log.count, log.newest(5), log.damaged) == (0, [], 0)


def test_appends_are_numbered_from_one_and_read_back_newest_first():
    log = filled(8, 3)
    assert log.count == 3
    assert log.newest(10) == [entry(3), entry(2), entry(1)]
    assert log.newest(2) == [entry(3), entry(2)]
    assert log.newest(0) == []


def test_pages_older_than_a_seq_join_into_the_whole_log():
    log = filled(8, 40)  # past the capacity: the oldest have rolled off
    kept = log.newest(1000)
    pages, before = [], None
    while True:
        page = log.newest(7, before)
        if not page:
            break
        pages += page
        before = page[-1][0]
    assert pages == kept and [e[0] for e in kept] == list(range(40, 40 - len(kept), -1))
    assert log.newest(3, 30) == [entry(29), entry(28), entry(27)]


def test_fields_keep_their_full_range():
    log = EventLog(FakeFlash(), "events", 4)
    log.append(0xFFFFFFFF, 0xFFFF, -2 ** 31, 2 ** 31 - 1)
    log.append(0, 0)
    assert log.newest(2) == [(2, 0, 0, 0, 0), (1, 0xFFFFFFFF, 0xFFFF, -2 ** 31, 2 ** 31 - 1)]


def test_out_of_range_fields_are_refused_on_both_interpreters():
    log = EventLog(FakeFlash(), "events", 4)
    for fields in ((-1, 1), (2 ** 32, 1), (0, -1), (0, 0x10000), (0, 1, 2 ** 31), (0, 1, 0, -2 ** 31 - 1)):
        assert raises(ValueError, lambda: log.append(*fields)), fields
    assert log.count == 0


def test_capacity_below_one_is_refused():
    assert raises(ValueError, lambda: EventLog(FakeFlash(), "events", 0))


def test_ring_that_wraps_keeps_the_newest_capacity_entries():
    for capacity in (1, 3, 16, 17, 40):
        for n in (capacity, capacity + 1, 5 * capacity + 3):
            log = filled(capacity, n)
            assert log.newest(capacity) == expected_newest(n, capacity), (capacity, n)


def test_ring_never_holds_more_than_one_segment_over_capacity():
    flash = FakeFlash()
    log = filled(40, 500, flash)
    stored = sum(len(data) for data in flash.snapshot().values())
    assert stored <= (40 + log.segment_entries) * ENTRY_BYTES
    assert len(log.newest(1000)) <= 40 + log.segment_entries


def test_reopened_log_continues_after_the_newest_entry():
    for n in (1, 15, 16, 17, 48, 100):
        flash = FakeFlash()
        filled(20, n, flash)
        log = EventLog(flash, "events", 20)
        assert log.count == n
        assert log.append(*entry(n + 1)[1:]) == n + 1
        assert EventLog(flash, "events", 20).newest(20) == expected_newest(n + 1, 20), n


def test_every_bit_flip_in_an_entry_is_detected_and_that_entry_skipped():
    flash = FakeFlash()
    filled(16, 5, flash)
    for bit in range(8 * ENTRY_BYTES):
        damaged = flash.clone()
        damaged.flip_stored_bit("events.0", 2 * ENTRY_BYTES * 8 + bit)  # entry 3
        log = EventLog(damaged, "events", 16)
        assert log.damaged == 1, bit
        assert log.newest(16) == [entry(5), entry(4), entry(2), entry(1)], bit


def test_torn_newest_entry_is_skipped_and_its_slot_reused():
    for keep in range(ENTRY_BYTES):
        flash = FakeFlash()
        filled(16, 4, flash)
        flash.truncate_stored("events.0", 3 * ENTRY_BYTES + keep)
        log = EventLog(flash, "events", 16)
        assert (log.count, log.damaged) == (3, 1 if keep else 0), keep
        log.append(*entry(4)[1:])
        log.append(*entry(5)[1:])
        assert EventLog(flash, "events", 16).newest(16) == expected_newest(5, 16), keep


def test_power_cut_during_any_append_keeps_every_older_entry():
    capacity, appends = 5, 14  # wraps: segments of 5, three segments
    total = FakeFlash()
    filled(capacity, appends, total)
    for last_op in range(1, total.ops + 1):
        for keep_bytes, flip_bit in ((None, None), (0, None), (1, None), (21, None), (None, 0), (None, 175)):
            flash = FakeFlash()
            flash.cut_power_after(last_op, keep_bytes, flip_bit)
            log = None
            try:
                log = EventLog(flash, "events", capacity)
                for seq in range(1, appends + 1):
                    log.append(*entry(seq)[1:])
            except PowerCut:
                pass
            committed = log.count if log else 0
            flash.restore_power()
            after = EventLog(flash, "events", capacity)
            assert after.count in (committed, committed + 1), (last_op, after.count, committed)
            assert after.newest(capacity) == expected_newest(after.count, capacity), last_op


def test_one_append_costs_three_operations_and_one_entry_sized_program_at_any_capacity():
    for capacity in (4, 16, 1000):
        flash = FakeFlash()
        log = filled(capacity, 37, flash)
        ops, writes, written = flash.ops, flash.writes, flash.bytes_written
        log.append(*entry(38)[1:])
        assert (flash.ops - ops, flash.writes - writes, flash.bytes_written - written) == (3, 1, ENTRY_BYTES)
