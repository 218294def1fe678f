"""Occlusion: volume and time to the alarm, bolus on clearing, false alarms.

    .venv/bin/python bench/occlusion.py

1. Time to alarm, full simulation (hw/sim/runner.py on CPython): the
   catheter blocks OCCLUDE_AT_H into a run and gives way CLEAR_AFTER_H
   later, with no ACK in between. The volume is what the pump pushed into
   the blocked line until the alarm stopped it (the mechanism's trapped
   steps at their peak, before the backoff); the bolus is what reached the
   patient when the blockage gave way. Each rate is run with ALARM_SEEDS
   (noise and posture) and the worst is printed. Goals: alarm within 5 uL, bolus
   at most 2 uL.
2. The physical floor: the detector must see OCCLUSION_EXCESS_MPSI above the
   baseline (its threshold, set above noise and posture); the line turns
   volume into pressure at its compliance, so no detector of that margin
   can alarm on less than threshold x compliance of trapped volume.
3. False alarms over 90 days of normal delivery at every rate of the
   example scenarios, and FALSE_ALARM_SEEDS each: the detector (pump.occlusion)
   driven directly with the physics' pressure (hw.sim.physics, open line:
   posture shifts and sensor noise), one reading per wake-up, wake-ups
   scheduled as the controller does (a batch of BATCH steps, at most
   MAX_WAKE_GAP_MS apart). After an alarm the detector is reset, as a
   resume does, and counting goes on.
"""
import glob
import json
import os
from multiprocessing import Pool

from common import RATES, ROOT, STEPS_PER_ML, full_or_quick, table
from hw.sim.physics import COMPLIANCE_NL_PER_PSI, Mechanism
from hw.sim.runner import Run
from pump.controller import BATCH, MAX_WAKE_GAP_MS
from pump.delivery import segment_den, segment_num
from pump.occlusion import LINE_OCCLUDED, OCCLUSION_EXCESS_MPSI, OcclusionDetector

ALARM_SEEDS = tuple(range(1, full_or_quick(9, 3)))
FALSE_ALARM_SEEDS = full_or_quick((1, 2, 3), (1,))
OCCLUDE_AT_H = 1
CLEAR_AFTER_H = {"lowest 12 mcg/day": 24, "typical 500 mcg/day": 2, "maximum 1 mL/h": 0.5}
GOAL_ALARM_UL = 5.0
GOAL_BOLUS_UL = 2.0
FALSE_ALARM_DAYS = full_or_quick(90, 2)
FLOOR_UL = OCCLUSION_EXCESS_MPSI * COMPLIANCE_NL_PER_PSI / 1000 / 1000


def time_to_alarm(rate, seed):
    """(uL pushed into the blocked line until the alarm, minutes, uL released
    on clearing); minutes is None when no alarm came before the clearing."""
    clear_h = OCCLUDE_AT_H + CLEAR_AFTER_H[rate.label]
    sim = Run(rate.scenario(clear_h + 1, seed=seed, events=(
        {"at_h": OCCLUDE_AT_H, "do": "occlude"}, {"at_h": clear_h, "do": "clear_occlusion"})))
    mech = sim.board.mechanism
    peak = [0]
    step = mech.step

    def counted(forward):
        moved = step(forward)
        if mech.trapped_steps > peak[0]:
            peak[0] = mech.trapped_steps
        return moved
    mech.step = counted
    results = sim.run()
    raised = [a[2] for a in results["alarms"] if a[0] == "occlusion"]
    minutes = (raised[0] - OCCLUDE_AT_H * 3600) / 60 if raised and raised[0] < clear_h * 3600 else None
    ul_per_step = 1000 / results["true_steps_per_ml"]
    return peak[0] * ul_per_step, minutes, results["released_on_clear_steps"] * ul_per_step


def example_rates():
    """{(ng/h, ng/uL)} of every step of every example scenario."""
    found = set()
    for path in glob.glob(os.path.join(ROOT, "tools", "scenarios", "**", "*.json"), recursive=True):
        with open(path) as f:
            raw = json.load(f)
        concentrations = {raw["reservoir"]["concentration_mcg_per_ml"]}
        concentrations.update(e["concentration_mcg_per_ml"] for e in raw.get("events", []) if e["do"] == "refill")
        program = raw["prescription"]
        days = [program["steps"]] if "steps" in program else program["week"].values()  # daily or weekly
        for step in [step for day in days for step in day]:
            for conc in concentrations:
                found.add((round(step["mcg_per_h"] * 1000), round(conc)))
    return sorted(found, key=lambda rc: rc[0] / rc[1])


def false_alarms(job):
    """Occlusion alarms over FALSE_ALARM_DAYS of an open line."""
    rate_ng_per_h, conc, seed = job
    num, den = segment_num(rate_ng_per_h, STEPS_PER_ML), segment_den(conc)
    mech = Mechanism(seed, 20_000_000, 20_000_000, STEPS_PER_ML)
    detector = OcclusionDetector(STEPS_PER_ML)
    end_ms = FALSE_ALARM_DAYS * 86_400_000
    t_ms = emitted = alarms = 0
    while t_ms < end_ms:
        if detector.sample(mech.pressure_mpsi(t_ms), emitted) == LINE_OCCLUDED:
            alarms += 1
            detector.reset()
        batch_end_ms = -(-(emitted + BATCH) * den // num)  # when the batch's last step is due
        t_ms = min(batch_end_ms, t_ms + MAX_WAKE_GAP_MS)
        emitted = t_ms * num // den
    return alarms


def main():
    rows = []
    for rate in RATES:
        runs = [time_to_alarm(rate, seed) for seed in ALARM_SEEDS]
        volume, minutes, _bolus = max(runs, key=lambda r: r[0])
        bolus = max(r[2] for r in runs)
        missed = sum(1 for r in runs if r[1] is None)
        rows.append([rate.label, "%.2f" % rate.ul_per_h, "%.2f" % volume,
                     "-" if minutes is None else "%.1f" % minutes, "%.2f" % (volume / FLOOR_UL),
                     "%.2f" % bolus, "%d of %d" % (len(ALARM_SEEDS) - missed, len(ALARM_SEEDS)),
                     "NO ALARM" if missed else "ok" if volume <= GOAL_ALARM_UL and bolus <= GOAL_BOLUS_UL
                     else "OVER GOAL"])
    table("Occlusion to alarm, worst of %d seeds (goals: <= %.0f uL to alarm, <= %.0f uL bolus on clearing)"
          % (len(ALARM_SEEDS), GOAL_ALARM_UL, GOAL_BOLUS_UL),
          ["rate", "uL/h", "uL to alarm", "minutes", "x floor", "bolus uL", "alarmed", "goals"], rows)
    print("Physical floor: threshold %d mpsi x compliance %d nL/psi = %.2f uL of trapped volume"
          % (OCCLUSION_EXCESS_MPSI, COMPLIANCE_NL_PER_PSI, FLOOR_UL))
    print()
    rates = example_rates()
    jobs = [(r, c, seed) for r, c in rates for seed in FALSE_ALARM_SEEDS]
    with Pool(min(len(jobs), os.cpu_count() or 1)) as pool:
        counts = pool.map(false_alarms, jobs)
    rows = []
    for i, (rate_ng_per_h, conc) in enumerate(rates):
        seeds = len(FALSE_ALARM_SEEDS)
        worst = max(counts[i * seeds:(i + 1) * seeds])
        rows.append(["%g mcg/h at %d mcg/mL" % (rate_ng_per_h / 1000, conc),
                     "%.1f" % (rate_ng_per_h / conc), "%d" % worst])
    table("False occlusion alarms in %d days of an open line (detector on the physics), worst of seeds %s"
          % (FALSE_ALARM_DAYS, ", ".join(map(str, FALSE_ALARM_SEEDS))),
          ["example scenario rate", "uL/h", "alarms"], rows)


if __name__ == "__main__":
    main()
