"""Power cut after every single flash operation of a run, in turn.

The run holds a prescription change, a refill and an occlusion alarm. For
each operation k of it, a fresh pump is programmed, the power is armed to
fail at operation k (cleanly, with the write torn, or with a bit flipped),
and the run goes on through the reboot. Then:
- the prescription is the last one committed (or the one being committed
  when the power went, never anything else);
- the reservoir estimate is never above what is really in the reservoir;
- the steps pushed never exceed what the prescription asked by a step;
- after the clinician's ACK, the pump delivers again.
"""
# micropython-heap: 384K
from hw.sim.flash import FakeFlash
from hw.sim.runner import Run
from pump.prescription import Prescription
from simcase import scenario

FIRST = [[0, 30_000]]
CHANGED = [[0, 33_000]]
EVENTS = [
    {"at_h": 0.4, "do": "command", "command": {"cmd": "set_prescription", "args": {
        "steps": [{"start": "00:00", "mcg_per_h": 33}]}}},
    {"at_h": 0.8, "do": "refill", "add_nl": 4_000_000, "concentration_ng_per_ul": 500},
    {"at_h": 1.0, "do": "occlude"},
    {"at_h": 1.4, "do": "clear_occlusion"},
    {"at_h": 1.5, "do": "press", "button": "ack"},
]
HOURS = 1.75
LFS_BLOCKS, LFS_BLOCK_BYTES = 96, 512  # 48 KiB: room for the records and the log's segments


def programmed_steps(sim):
    """Whole steps the prescription asked for over the run (exact)."""
    spm = sim.steps_per_ml
    total = 0
    for conc, amount in sim.ledger.programmed_by_concentration.items():
        total += amount * spm * 1000 // (conc * 3_600_000 * 1000)
    return total


def provisioned(flash):
    sim = Run(scenario(HOURS, fill_ml=10, events=EVENTS), flash)
    return sim


def check(sim, label):
    ctl, mech = sim.ctl, sim.board.mechanism
    change_reply = sim.replies[0] if sim.replies else None
    allowed = [Prescription(CHANGED)] if change_reply and b'"ok": true' in change_reply else \
        [Prescription(FIRST), Prescription(CHANGED)]
    assert ctl.prescription in allowed, label
    assert ctl.reservoir.remaining_steps() <= mech.reservoir_steps, label
    assert sim.board.stepper.forward_emitted <= programmed_steps(sim) + 1, label
    sim.board.press_ack()
    sim._advance()
    assert ctl.delivering, (label, ctl.stop_mask)
    assert sim.board.stepper.pending() > 0 or sim.wake_t - sim.time.t_ms <= 60_000, label


def campaign(damage):
    reference = provisioned(FakeFlash())
    start_ops = reference.flash.ops
    reference.run()
    total = reference.flash.ops - start_ops
    assert total > 50  # the run really writes: saves, appends, renames
    for k in range(total):
        # the power dies in operation k + 1: before it when clean, during it
        # (when it programs bytes) when damage is asked for
        flash = FakeFlash()
        sim = provisioned(flash)
        flash.cut_power_after(k + 1 if damage else k, **damage)
        sim.run()
        # (the run's very last operation may program nothing: then the
        # power dies after it, with nothing left to fail)
        assert sim.restarts == 1 or k == total - 1, k
        check(sim, (k, damage))
    return total


def test_a_clean_power_cut_at_every_operation_loses_nothing_committed():
    campaign({})


def test_a_torn_last_write_at_every_operation_is_detected_and_survived():
    campaign({"keep_bytes": 7})


def test_a_bit_flipped_last_write_at_every_operation_is_detected_and_survived():
    campaign({"flip_bit": 77})


def test_the_campaign_on_littlefs_itself_loses_nothing_committed():
    """The same run on the board's own filesystem (LittleFS v2 in the unix
    port, on a RAM NOR flash): the power dies during every program or erase
    of the run in turn, half of that change landing. MicroPython only."""
    try:
        from hw.sim.ramflash import LittleFsFlash, RamNor
        import vfs  # noqa: F401
    except ImportError:  # CPython: no LittleFS here
        return
    device = RamNor(LFS_BLOCKS, LFS_BLOCK_BYTES)  # one device, formatted afresh for each run
    reference = LittleFsFlash(device)
    try:
        sim = provisioned(reference)
        start = device.changes
        sim.run()
        total = device.changes - start
    finally:
        reference.unmount()
    assert total > 50
    for k in range(total):
        device.changes_left = -1
        flash = LittleFsFlash(device)
        try:
            sim = provisioned(flash)
            flash.cut_power_after(k)
            sim.run()
            assert sim.restarts == 1, k
            check(sim, (k, "littlefs"))
        finally:
            flash.unmount()
