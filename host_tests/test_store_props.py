"""Properties of pump.store and pump.eventlog over random histories
(CPython, hypothesis), and both on a host folder through hw.flashfs.

1. Any sequence of saves, appends, clean reboots and power cuts (plain, torn
   or bit-flipped): after every reboot the record is the last committed one or
   the one whose save was cut, and the log holds exactly the committed entries
   that have not rolled off (plus the one being appended, if it made it).
2. Any damage to the stored files afterwards (bit flips, truncation): load()
   returns a payload that was really saved, or nothing with EMPTY/FAULT; the
   log returns only entries that were really appended. Never garbage.
"""
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from hw.flashfs import FlashFS
from hw.sim.flash import FakeFlash, PowerCut
from pump.eventlog import EventLog
from pump.store import EMPTY, FALLBACK, FAULT, OK, RecordStore

CAPACITY = 6
VERSION = 2

payloads = st.binary(max_size=300)
events = st.tuples(st.integers(0, 2 ** 32 - 1), st.integers(0, 0xFFFF),
                   st.integers(-2 ** 31, 2 ** 31 - 1), st.integers(-2 ** 31, 2 ** 31 - 1))
cuts = st.tuples(st.integers(0, 40), st.one_of(st.none(), st.integers(0, 400)),
                 st.one_of(st.none(), st.integers(0, 3000)))
actions = st.lists(st.one_of(
    st.tuples(st.just("save"), payloads),
    st.tuples(st.just("append"), events),
    st.tuples(st.just("reboot")),
    st.tuples(st.just("cut"), cuts),
), max_size=40)


class Model:
    """What must be on flash: the committed record and log entries."""

    def __init__(self):
        self.state = None
        self.entries = []  # (seq, time_s, code, a, b), oldest first

    def newest(self):
        return self.entries[::-1][:CAPACITY]


def boot(flash):
    return RecordStore(flash, "state", VERSION), EventLog(flash, "events", CAPACITY)


def check_boot(flash, model, saving=None, appending=None):
    """Reboot after a cut (or cleanly); `saving`/`appending`: what was in
    flight. Updates the model to what turned out committed."""
    flash.restore_power()
    store, log = boot(flash)
    state, status = store.load()
    allowed = [model.state] + ([saving] if saving is not None else [])
    assert state in allowed
    assert status == (EMPTY if state is None else OK)
    model.state = state
    committed = len(model.entries)
    assert log.count in ((committed, committed + 1) if appending else (committed,))
    if log.count == committed + 1:
        model.entries.append((log.count,) + appending)
    assert log.newest(CAPACITY) == model.newest()
    assert log.damaged <= 1  # only the slot an append was cut in, until it is reused
    return store, log


@settings(max_examples=300, deadline=None)
@given(actions)
def test_random_histories_of_saves_appends_and_power_cuts_keep_what_was_committed(history):
    flash, model = FakeFlash(), Model()
    store, log = boot(flash)
    for action in history:
        kind = action[0]
        if kind == "cut":
            after, keep_bytes, flip_bit = action[1]
            flash.cut_power_after(after, keep_bytes, flip_bit)
            if after == 0:
                store, log = check_boot(flash, model)
            continue
        saving = action[1] if kind == "save" else None
        appending = action[1] if kind == "append" else None
        try:
            if kind == "save":
                store.save(saving)
                model.state = saving
            elif kind == "append":
                seq = log.append(*appending)
                model.entries.append((seq,) + appending)
            else:
                store, log = check_boot(flash, model)
        except PowerCut:
            store, log = check_boot(flash, model, saving, appending)
    check_boot(flash, model)


damage = st.lists(st.tuples(st.sampled_from(["flip", "truncate"]), st.integers(0, 10 ** 6)),
                  min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.lists(payloads, max_size=5), st.lists(events, max_size=20), damage, st.data())
def test_damaged_flash_is_never_misread(saves, appends, harm, data):
    flash = FakeFlash()
    store, log = boot(flash)
    for payload in saves:
        store.save(payload)
    for event in appends:
        log.append(*event)
    appended = set((seq,) + event for seq, event in enumerate(appends, 1))
    files = sorted(flash.snapshot())
    for how, where in harm if files else ():
        name = data.draw(st.sampled_from(files))
        size = len(flash.snapshot()[name])
        if how == "flip" and size:
            flash.flip_stored_bit(name, where % (8 * size))
        elif how == "truncate":
            flash.truncate_stored(name, where % (size + 1))
    state, status = RecordStore(flash, "state", VERSION).load()
    if state is None:
        assert status == (FAULT if saves else EMPTY)
    else:
        assert state in saves[-2:]
        assert status in (OK, FALLBACK)
    for entry in EventLog(flash, "events", CAPACITY).newest(100):
        assert entry in appended


def test_store_and_log_on_a_host_folder_through_flashfs():
    with tempfile.TemporaryDirectory() as folder:
        fs = FlashFS(folder + "/data")
        store, log = RecordStore(fs, "state", VERSION), EventLog(fs, "events", 4)
        for i in range(5):
            store.save(b"record %d" % i)
            log.append(i, 1, i)
        fs = FlashFS(folder + "/data/")
        assert RecordStore(fs, "state", VERSION).load() == (b"record 4", OK)
        assert [e[0] for e in EventLog(fs, "events", 4).newest(10)] == [5, 4, 3, 2, 1]
        assert fs.listdir() == ["events.0", "events.1", "state.a", "state.b"]
        fs.remove("state.a")
        assert "state.a" not in fs.listdir()
