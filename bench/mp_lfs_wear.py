"""Driver for bench/flash_wear.py, run by the MicroPython unix port:

    micropython -X heapsize=4M bench/mp_lfs_wear.py SCENARIO.json run
    micropython -X heapsize=4M bench/mp_lfs_wear.py SIZES.json records

The pump's files on LittleFS v2 (vfs.VfsLfs2, through hw.flashfs.FlashFS
as on the board), formatted and mounted as the rp2 port does it (progsize
256) on a RAM block device of the RP2040's geometry: 4 KiB erase blocks,
256 of them (1 MiB), which counts block erases and programs.
- `run`: a normalised scenario (hw/sim/runner.py's Run). Each state-record
  save and event-log append is wrapped to attribute to it the erases it
  caused. Counting starts after the pump has been programmed.
- `records`: pump.store.RecordStore saving payloads of each size in the
  JSON list SIZES, RECORD_SAVES times each: erases per save by record size.
Prints one JSON object.
"""
import gc
import json
import sys

from hw.sim.ramflash import LittleFsFlash, RamNor

BLOCK_BYTES = 4096
BLOCKS = 256
PROG_BYTES = 256
MOUNT = "/bench_lfs"
RECORD_SAVES = 400


def attributed(call, device, tally):
    """Wraps `call` to add its count and the erases it caused to `tally`."""
    def wrapped(*args):
        before = device.total_erases()
        try:
            return call(*args)
        finally:
            tally[0] += 1
            tally[1] += device.total_erases() - before
    return wrapped


def mounted():
    """LittleFS with the rp2 port's geometry on a fresh 1 MiB RamNor."""
    return LittleFsFlash(RamNor(BLOCKS, BLOCK_BYTES), MOUNT, PROG_BYTES)


def run(scenario):
    from hw.sim.runner import Run
    flash = mounted()
    device = flash.device
    sim = Run(scenario, flash)
    saves, appends = [0, 0], [0, 0]  # calls, erases
    sim.ctl.store.save = attributed(sim.ctl.store.save, device, saves)
    sim.ctl.log.append = attributed(sim.ctl.log.append, device, appends)
    erases0, programs0, bytes0 = device.total_erases(), device.programs, device.programmed_bytes
    gc.collect()
    sim.run()
    flash.unmount()
    return {
        "hours": scenario["duration_ms"] / 3_600_000,
        "erases": device.total_erases() - erases0,
        "programs": device.programs - programs0,
        "programmed_bytes": device.programmed_bytes - bytes0,
        "saves": saves[0], "save_erases": saves[1],
        "appends": appends[0], "append_erases": appends[1],
        "hottest_block_erases": max(device.erases),
        "blocks_erased": sum(1 for n in device.erases if n),
    }


def records(sizes):
    """[[payload bytes, erases per save], ...] for a fresh store each."""
    from pump.store import RecordStore
    found = []
    for size in sizes:
        gc.collect()
        flash = mounted()
        device = flash.device
        store = RecordStore(flash, "state", 1)
        store.save(bytes(size))  # both slots exist from here on
        store.save(bytes(size))
        before = device.total_erases()
        for _ in range(RECORD_SAVES):
            store.save(bytes(size))
        found.append([size, (device.total_erases() - before) / RECORD_SAVES])
        flash.unmount()
        flash = device = store = None
    return {"erases_per_save": found}


def main(path, mode):
    with open(path) as f:
        job = json.load(f)
    print(json.dumps(run(job) if mode == "run" else records(job)))


main(sys.argv[1], sys.argv[2])
