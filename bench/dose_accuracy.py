"""Dose accuracy over 90 simulated days, in motor steps.

    .venv/bin/python bench/dose_accuracy.py

Two figures per run, both from hw/sim/dosecheck.py's exact integer ledgers:
- the step-timing error: the worst gap between the steps the driver emitted
  and the exact ideal of the prescription, checked at every pulse on the
  1 ms grid, while delivering normally; `lag` is the most the pump fell
  behind, `lead` the most it ran ahead, as fractions of a step; the
  report's max_dose_error_steps is the larger, rounded up to whole steps;
- per calendar day, delivered minus programmed, in steps. Days on which an
  alarm stopped delivery (delivery_stopped) are left out and counted: the
  pump does not catch up a stopped dose, by design.
"""
from common import STEPS_PER_ML, scenario_file, table
from hw.sim.runner import Run

SCENARIOS = ("tools/scenarios/ninety_days_flex.json", "tools/scenarios/ninety_days_lowest_dose.json")
MS_PER_HOUR = 3_600_000


def stopped_days(results):
    """Run days (from the start) touched by a delivery_stopped alarm."""
    days = set()
    end_s = results["end_ms"] // 1000
    for kind, _priority, raised_s, _ack, cleared_s in results["alarms"]:
        if kind == "delivery_stopped":
            days.update(range(raised_s // 86_400, (end_s if cleared_s is None else cleared_s) // 86_400 + 1))
    return days


def daily_error_steps(scenario, results):
    """[(day, delivered - programmed in steps)] over days delivering throughout.
    One step carries concentration / steps_per_ml of drug (Ledger's units)."""
    conc = scenario["concentration_ng_per_ul"]
    spm = results["steps_per_ml"]
    skip = stopped_days(results)
    errors = []
    for day, (programmed, delivered) in enumerate(results["daily"]):
        if day in skip:
            continue
        programmed_steps = programmed * spm / (MS_PER_HOUR * 1000 * conc)
        errors.append((day, delivered / conc - programmed_steps))
    return errors, len(skip)


def main():
    rows = []
    for path in SCENARIOS:
        scenario = scenario_file(path, quick_days=2)
        events = scenario["events"]
        assert all(e["concentration_ng_per_ul"] == scenario["concentration_ng_per_ul"]
                   for e in events if e["do"] == "refill"), "per-day steps assume one concentration"
        results = Run(scenario).run()
        errors, skipped = daily_error_steps(scenario, results)
        worst_day, worst = max(errors, key=lambda e: abs(e[1]))
        rows.append([path.rsplit("/", 1)[-1], "%d" % results["max_dose_error_steps"],
                     "%.6f" % (results["worst_lag_micro_steps"] / 1e6),
                     "%.6f" % (results["worst_lead_micro_steps"] / 1e6),
                     "%+.3f (day %d)" % (worst, worst_day), "%d of %d" % (len(errors), len(results["daily"])),
                     "%d" % skipped])
    table("Dose accuracy over 90 days (steps of the %d steps/mL mechanism)" % STEPS_PER_ML,
          ["scenario", "max error", "worst lag", "worst lead", "worst day: delivered - programmed",
           "days counted", "days stopped"], rows)


if __name__ == "__main__":
    main()
