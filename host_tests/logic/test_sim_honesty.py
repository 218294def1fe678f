"""The simulator reports only what happened: a refused command leaves the
world as it was, every drop that reached the patient is in the daily table,
the programmed dose follows the pump's clock, and a run ends at its end."""
# micropython-heap: 320K
# (as test_sim_runs: the pump logic plus the simulated board and its checks)
from hw.sim.runner import Run
from simcase import DAY0, HOUR_MS, run, scenario

CONC = 500  # ng/uL, simcase's default concentration
STEPS_PER_ML = 12_732


def true_ml_left(results):
    return results["true_reservoir_steps"] / results["true_steps_per_ml"]


def test_a_refill_the_pump_refuses_leaves_the_reservoir_as_it_was():
    # 60 mL is over what the pump takes in one refill (50 mL): refused
    refill = {"at_h": 1, "do": "refill", "add_nl": 60_000_000, "concentration_ng_per_ul": CONC}
    sim, results = run(2, fill_ml=10, events=[refill])
    assert '"ok": false' in results["replies"][0]
    fill_steps = 10 * STEPS_PER_ML
    assert results["true_reservoir_steps"] == fill_steps - results["delivered_steps"]
    assert sim.ctl.reservoir.remaining_steps() <= results["true_reservoir_steps"]


def test_a_refill_while_the_power_is_off_gets_no_answer_and_fills_nothing():
    events = [{"at_h": 1, "do": "power_cut", "off_ms": HOUR_MS},
              {"at_h": 1.5, "do": "refill", "add_nl": 5_000_000, "concentration_ng_per_ul": CONC}]
    _sim, results = run(3, fill_ml=10, events=events)
    assert results["commands"][-1] == [int(1.5 * HOUR_MS), "refill", None]
    assert results["true_reservoir_steps"] == 10 * STEPS_PER_ML - results["delivered_steps"]


def test_the_daily_table_counts_what_a_cleared_blockage_releases():
    # a stuck sensor hides the blockage: 4 h of drug is trapped, then released at once
    events = [{"at_h": 1, "do": "sensor_fault", "fault": "stuck"}, {"at_h": 2, "do": "occlude"},
              {"at_h": 6, "do": "clear_occlusion"}]
    _sim, results = run(8, events=events)
    assert results["released_on_clear_steps"] > 4 * 60 * STEPS_PER_ML // 1000 - 2  # 4 h of 60 uL/h
    delivered_in_table = sum(d for _p, d in results["daily"])
    assert delivered_in_table == results["delivered_steps"] * CONC


def schedule(start_ms, hours, steps):
    """What a daily schedule asks for over `hours` from start_ms (ms of day),
    minute by minute, in the ledger's unit: ng/h x ms."""
    total = 0
    for minute in range(int(hours * 60)):
        ms = (start_ms + minute * 60_000) % 86_400_000
        total += [rate for at, rate in steps if at <= ms][-1] * 1000 * 60_000
    return total


# The boot waits for the DS3231's second edge (up to 1.5 s), and the set-up
# commands' flash writes take time: the program begins up to this far into a run.
BOOT_S = 2
FLEX = (("00:00", 30), ("07:00", 20))
FLEX_MS = [(0, 30), (7 * HOUR_MS, 20)]


def clock_case(iso, back_to_ms):
    """08:00 start; at 3 h the clock is set to `iso` (back_to_ms into its day)."""
    change = {"at_h": 3, "do": "command", "command": {"cmd": "set_clock", "args": {"iso": iso}}}
    _sim, results = run(24, steps=FLEX, events=[change])
    assert '"ok": true' in results["replies"][0]
    expected = schedule(8 * HOUR_MS, 3, FLEX_MS) + schedule(back_to_ms, 21, FLEX_MS)
    (programmed, delivered), = results["daily"]
    # exact but for the boot: the first rate (20 mcg/h at 08:00) is not asked for before the program is in
    assert 0 <= expected - programmed <= 20_000 * 1000 * BOOT_S
    return results, programmed, delivered, expected


def test_the_programmed_dose_follows_a_clock_set_back_and_the_error_stays_within_a_step():
    # set back from 11:00 to 02:00: the 30 mcg/h night hours come round again
    results, programmed, delivered, expected = clock_case("2026-03-02T02:00:00", 2 * HOUR_MS)
    # not what the old clock would have asked for: two hours fewer at 30 mcg/h instead of 20
    assert schedule(8 * HOUR_MS, 24, FLEX_MS) - expected == 10_000 * 2 * HOUR_MS
    assert abs(delivered / STEPS_PER_ML - programmed / 3.6e9) <= CONC / STEPS_PER_ML
    assert results["max_dose_error_steps"] <= 1


def test_the_dose_error_stays_within_a_step_across_a_clock_set_forward():
    results, programmed, delivered, _expected = clock_case("2026-03-02T23:00:00", 23 * HOUR_MS)
    # the pump restarts its schedule at a clock jump without the fraction of a
    # step it owed: one step at the jump, one in flight at the day's end
    assert abs(delivered / STEPS_PER_ML - programmed / 3.6e9) <= 2 * CONC / STEPS_PER_ML
    assert results["max_dose_error_steps"] <= 1


def test_a_power_cut_longer_than_the_run_ends_the_run_at_its_duration():
    events = [{"at_h": 2, "do": "power_cut", "off_ms": 10 * 24 * HOUR_MS},
              {"at_h": 3, "do": "press", "button": "ack"},
              {"at_h": 4, "do": "command", "command": {"cmd": "status"}}]
    sim = Run(scenario(8, events=events))
    results = sim.run()
    assert results["end_ms"] == 8 * HOUR_MS and sim.time.day_ms() == (DAY0, 16 * HOUR_MS)
    assert results["powered_at_end"] is False and results["restarts"] == 0
    assert results["ms_to_empty"] is None
    assert results["commands"][-1] == [4 * HOUR_MS, "status", None]
    # two hours of 60 uL/h went out, then nothing
    assert abs(results["delivered_steps"] - 2 * 60 * STEPS_PER_ML // 1000) <= 1


def test_events_during_an_outage_happen_at_their_time_and_the_pump_boots_when_the_power_returns():
    events = [{"at_h": 2, "do": "power_cut", "off_ms": 2 * HOUR_MS},
              {"at_h": 3, "do": "occlude"}, {"at_h": 5, "do": "clear_occlusion"}]
    _sim, results = run(8, events=events)
    assert results["powered_at_end"] is True and results["restarts"] == 1
    restart = [a for a in results["alarms"] if a[0] == "restart"]
    # raised when the power came back, after the boot's wait for the DS3231's second edge
    assert restart and 4 * 3600 <= restart[0][2] <= 4 * 3600 + BOOT_S
    # the line blocked while the pump was off: it finds out once it pushes again
    occlusion = [a for a in results["alarms"] if a[0] == "occlusion"]
    assert occlusion and 4 * 3600 < occlusion[0][2] < 5 * 3600
