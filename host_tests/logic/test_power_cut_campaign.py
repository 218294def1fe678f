"""Power cut after every single flash operation of a run, in turn.

The run holds a prescription change, a refill and an occlusion alarm. For
each operation k of it, a fresh pump is programmed, the power is armed to
fail at operation k (cleanly, with the write torn, or with a bit flipped),
and the run goes on through the reboot. Then:
- the prescription is the last one committed (or the one being committed
  when the power went, never anything else);
- the reservoir estimate is never above what is really in the reservoir;
- the steps pushed never exceed what the prescription asked by a step;
- the estimate is below the truth by at most what the cut could have cost:
  ten minutes at the basal rate plus the rest of a bolus running at the cut
  (the authorisation), plus a batch still queued at the end;
- after the clinician's ACK, the pump delivers again.
"""
# micropython-heap: 448K
from hw.calibration import CALIBRATION_LIMITS
from hw.sim.flash import FakeFlash
from hw.sim.runner import Run
from pump.prescription import Prescription
from simcase import scenario

FIRST = [[0, 30_000]]
CHANGED = [[0, 33_000]]
BOLUS_MCG = 50
EVENTS = [
    {"at_h": 0.2, "do": "command", "command": {"cmd": "bolus", "args": {"mcg": BOLUS_MCG}}},
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


AUTH_WINDOW_MS = 600_000
BATCH = 8


def provisioned(flash):
    sim = Run(scenario(HOURS, fill_ml=10, events=EVENTS), flash)
    sim.cuts = []
    power_cut = sim._power_cut

    def watched(off_ms):  # note what the pump was doing when the power died
        sim.cuts.append((sim.time.t_ms, sim.bolus))
        power_cut(off_ms)
    sim._power_cut = watched
    return sim


def steps_at(rate_ng_per_h, ms, spm, conc):
    """Steps (rounded up) that `rate_ng_per_h` asks for over `ms`."""
    return -(-rate_ng_per_h * spm * ms // (conc * 3_600_000_000))


def loss_bound_nl(sim):
    """What the cuts may cost the estimate: per cut, ten minutes of the
    fastest basal step plus the part of a bolus not yet due, and the batch
    that was queued when that authorisation was written; a batch queued
    at the end; at the refill, a step of rounding and the batch queued then
    (pump.commands reads the estimate before the controller takes the
    queued steps back); and what the occlusion
    back-off retracted (not credited back: it may be CSF)."""
    spm, conc = sim.steps_per_ml, sim.concentration
    basal = max(rate for _start, rate in FIRST + CHANGED)
    stepper = sim.board.stepper
    steps = BATCH + 2 + BATCH + stepper.forward_emitted - stepper.emitted
    bolus_steps = BOLUS_MCG * 1000 * spm // (conc * 1000) + 1
    for t_cut, bolus in sim.cuts:
        steps += steps_at(basal, AUTH_WINDOW_MS, spm, conc) + 1 + BATCH
        if bolus is not None:  # (start_t or None before it began, end_t, ...) as the runner follows it
            duration = BOLUS_MCG * 1000 * 1000 * 3_600_000 // (conc * sim.board.calibration["bolus_rate_nl_per_h"])
            left = duration if bolus[0] is None else max(bolus[1] - t_cut, 0)
            steps += -(-bolus_steps * left // duration) + 1
    if sim.replies and sim.replies[0] is None:  # cut inside the bolus command: all of it was authorised
        steps += bolus_steps + 1
    refill_lost_nl = 0
    if len(sim.replies) > 2 and sim.replies[2] is None:  # cut inside the refill: it must be redone
        refill_lost_nl = EVENTS[2]["add_nl"]
    # the estimate counts every step as the largest volume a step may move
    # within the calibration's tolerance (pump.reservoir)
    lowest = CALIBRATION_LIMITS["steps_per_ml"][0]
    tolerance_nl = stepper.forward_emitted * 1_000_000 * (spm - lowest) // (lowest * spm) + 1
    return steps * 1_000_000 // lowest + 1 + tolerance_nl + refill_lost_nl


def check(sim, label):
    ctl, mech = sim.ctl, sim.board.mechanism
    change_reply = sim.replies[1] if len(sim.replies) > 1 else None  # [0] is the bolus
    allowed = [Prescription(CHANGED)] if change_reply and b'"ok": true' in change_reply else \
        [Prescription(FIRST), Prescription(CHANGED)]
    assert ctl.prescription in allowed, label
    truth_nl = mech.reservoir_steps * 1_000_000 // mech.true_steps_per_ml
    estimate_nl = ctl.reservoir.remaining_nl()
    assert estimate_nl <= truth_nl, label
    assert truth_nl - estimate_nl <= loss_bound_nl(sim), (label, truth_nl - estimate_nl, loss_bound_nl(sim))
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
