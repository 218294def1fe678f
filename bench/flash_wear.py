"""Flash wear per day at three rates, and the years to wear out the filesystem.

    .venv/bin/python bench/flash_wear.py

1. CPython, hw/sim/flash.py's FakeFlash: program operations (`writes`) and
   bytes programmed per simulated day of steady delivery (counted after the
   pump has been programmed), and the size of the state record
   (pump.state.StateCodec.encode) that most of them write.
2. MicroPython, bench/mp_lfs_wear.py: the same runs on real LittleFS v2
   (the unix port's vfs.VfsLfs2) on a RAM device of the RP2040's geometry
   (4 KiB blocks, 256-byte programs, 256 blocks = 1 MiB), counting block
   erases, which is what wears NOR flash out, and attributing them to the
   state-record saves and event-log appends that caused them. Then a
   RecordStore alone, by payload size: a file of at most INLINE_MAX_BYTES
   lives inside its directory's metadata log (cheap); one byte more and it
   takes a block of its own, erased at every save.
3. The projection. Model: the erases a day causes are spread over the
   region's blocks by LittleFS's dynamic wear levelling (MicroPython sets
   block_cycles = 100: a metadata block is moved to a fresh one after 100
   erases, so no block runs ahead; the hottest block of each run shows it),
   so years = 256 blocks x 100 000 cycles / erases per day / 365.25,
   compared with the 20-year goal.
The 1 mL/h run lasts 18 h (its 20 mL last 20 h) and is scaled to a day.
"""
from common import LOWEST, MAXIMUM, TYPICAL, full_or_quick, micropython, table
from hw.sim.runner import Run
from pump.state import StateCodec

BLOCKS = 256
ERASE_CYCLES = 100_000
GOAL_YEARS = 20
RUNS = full_or_quick(((LOWEST, 7 * 24), (TYPICAL, 7 * 24), (MAXIMUM, 18)), ((LOWEST, 24), (TYPICAL, 24), (MAXIMUM, 6)))
STORE_HEADER_BYTES = 18  # pump.store's record header
# LittleFS's inline limit with MicroPython's settings: the smallest of its
# cache (4 x progsize = 1024), attr_max (1022) and a block / 8 (512).
INLINE_MAX_BYTES = 512


def fake_flash_day(rate, hours):
    """(writes/day, bytes/day, state payload bytes) on FakeFlash."""
    sim = Run(rate.scenario(hours))
    writes0, bytes0 = sim.flash.writes, sim.flash.bytes_written
    sim.run()
    per_day = 24 / hours
    return ((sim.flash.writes - writes0) * per_day, (sim.flash.bytes_written - bytes0) * per_day,
            len(StateCodec.encode(sim.ctl)))


def projection(label, erases_per_day):
    years = BLOCKS * ERASE_CYCLES / erases_per_day / 365.25
    return [label, "%.0f" % erases_per_day, "%.0f" % years, "%.0fx" % (years / GOAL_YEARS)]


def main():
    fake_rows, lfs_rows, years_rows, payloads, saves_per_day = [], [], [], [], []
    for rate, hours in RUNS:
        writes, written, payload = fake_flash_day(rate, hours)
        payloads.append(payload)
        lfs, _wall_s = micropython("bench/mp_lfs_wear.py", rate.scenario(hours), "4M", ["run"])
        per_day = 24 / hours
        fake_rows.append([rate.label, "%d" % hours, "%.0f" % writes, "%.0f" % written,
                          "%d + %d" % (STORE_HEADER_BYTES, payload)])
        erases = lfs["erases"] * per_day
        saves_per_day.append(lfs["saves"] * per_day)
        lfs_rows.append([rate.label, "%.0f" % (lfs["saves"] * per_day), "%.0f" % (lfs["appends"] * per_day),
                         "%.2f" % (lfs["save_erases"] / max(lfs["saves"], 1)),
                         "%.2f" % (lfs["append_erases"] / lfs["appends"]) if lfs["appends"] else "-",
                         "%.0f" % erases, "%.0f" % (lfs["programs"] * per_day),
                         "%d in %d blocks" % (lfs["hottest_block_erases"], lfs["blocks_erased"])])
        years_rows.append(projection(rate.label, erases))
    table("FakeFlash, per simulated day (programs = flushes that wrote bytes)",
          ["rate", "hours run", "writes/day", "bytes/day", "state record bytes"], fake_rows)
    table("LittleFS v2, 4 KiB blocks, progsize 256 (MicroPython vfs.VfsLfs2 on a RAM device)",
          ["rate", "saves/day", "appends/day", "erases/save", "erases/append", "erases/day", "programs/day",
           "hottest block"], lfs_rows)
    inline_payload = INLINE_MAX_BYTES - STORE_HEADER_BYTES
    sizes = sorted(set(payloads + [inline_payload, inline_payload + 1, 1024]))
    by_size, _wall_s = micropython("bench/mp_lfs_wear.py", sizes, "4M", ["records"])
    table("LittleFS erases per state save, by payload (inline up to %d B on flash: %d B of payload)"
          % (INLINE_MAX_BYTES, inline_payload), ["payload bytes", "erases/save"],
          [["%d" % size, "%.2f" % erases] for size, erases in by_size["erases_per_save"]])
    print("Largest state record in these runs: %d B of payload, %d B under the inline limit"
          % (max(payloads), inline_payload - max(payloads)))
    print()
    past_inline = by_size["erases_per_save"][-1][1]
    years_rows.append(projection("record past the inline limit", max(saves_per_day) * past_inline))
    table("Projected wear-out of a 1 MiB region (%d blocks x %d cycles, erases levelled)" % (BLOCKS, ERASE_CYCLES),
          ["rate", "erases/day", "years", "of %d-year goal" % GOAL_YEARS], years_rows)


if __name__ == "__main__":
    main()
