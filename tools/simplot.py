"""The picture of a simulated run (tools/sim.py --plot): five panels on one time axis.

1. dose per hour, programmed and delivered (mcg/h);
2. the running difference, delivered minus programmed, in motor steps, and
   the dose checker's error against the exact ideal while delivering;
3. the reservoir: the truth, the pump's estimate, its low threshold, empty;
4. the line pressure a gauge would read, and the occlusion threshold;
5. one band per alarm, from raised to cleared (to the end when never cleared).

Everything comes from the run's trace (hw/sim/trace.py) and report; nothing
is recomputed from the pump's own state. Matplotlib draws headless (Agg).
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hw.sim.physics import BASELINE_MPSI  # noqa: E402
from pump.occlusion import OCCLUSION_EXCESS_MPSI  # noqa: E402

PRIORITY_COLOURS = {"high": "#d62728", "medium": "#ff9f1c", "low": "#1f9bd1"}
MS_PER_HOUR = 3_600_000


def sample_interval_ms(duration_ms, most=2000):
    """A sample interval a person reads hours from: a divisor of an hour up
    to one hour, then whole hours, with at most `most` samples in the run."""
    for candidate_s in (30, 60, 120, 300, 600, 900, 1200, 1800, 3600):
        if duration_ms // (candidate_s * 1000) <= most:
            return candidate_s * 1000
    return -(-duration_ms // (most * MS_PER_HOUR)) * MS_PER_HOUR


def _time_axis(t_ms, duration_ms):
    """(values, label): hours for runs up to 3 days, days beyond."""
    if duration_ms <= 72 * MS_PER_HOUR:
        return [t / MS_PER_HOUR for t in t_ms], "hours since the start"
    return [t / (24 * MS_PER_HOUR) for t in t_ms], "days since the start"


def _per_hour(t_ms, cumulative, to_mcg, every):
    """Mean mcg/h over each `every` samples, as step-plot points."""
    xs, ys = [], []
    for i in range(0, len(t_ms) - every, every):
        hours = (t_ms[i + every] - t_ms[i]) / MS_PER_HOUR
        xs.append(t_ms[i])
        ys.append(to_mcg(cumulative[i + every] - cumulative[i]) / hours)
    return xs, ys


def plot_run(scenario, results, path, title, size=(11, 11), dpi=100):
    trace = results["trace"]
    t_ms = trace["t_ms"]
    duration_ms = scenario["duration_ms"]
    spm, true_spm = results["steps_per_ml"], results["true_steps_per_ml"]
    conc = scenario["concentration_ng_per_ul"]
    scale = 1 / MS_PER_HOUR if duration_ms <= 72 * MS_PER_HOUR else 1 / (24 * MS_PER_HOUR)
    x, xlabel = _time_axis(t_ms, duration_ms)
    fig, axes = plt.subplots(5, 1, sharex=True, figsize=size, dpi=dpi,
                             gridspec_kw={"height_ratios": [3, 2, 3, 3, 2]})
    dose, error, reservoir, pressure, alarm_axis = axes

    # 1. dose per hour (per sample interval when it is longer than an hour)
    every = max(1, MS_PER_HOUR // trace["sample_ms"])
    for series, to_mcg, label, style in (
            ("programmed", lambda v: v / 3.6e9, "programmed", {"color": "0.35", "linewidth": 2.2}),
            ("delivered", lambda v: v / true_spm, "delivered", {"color": "#2ca02c", "linewidth": 1.2})):
        hx, hy = _per_hour(t_ms, trace[series], to_mcg, every)
        dose.step([t * scale for t in hx], hy, where="post", label=label, **style)
    dose.set_ylabel("dose, mcg/h")
    dose.set_ylim(bottom=0)
    dose.legend(loc="upper right", fontsize="small")

    # 2. running difference in steps (of the starting concentration), and the checker's error
    diff = [(d / true_spm - p / 3.6e9) * spm / conc for p, d in zip(trace["programmed"], trace["delivered"])]
    error.plot(x, diff, color="#9467bd", linewidth=1, label="delivered - programmed, cumulative")
    error.axhline(0, color="0.6", linewidth=0.6)
    error.set_ylabel("cumulative, steps", color="#9467bd")
    checker_axis = error.twinx()  # within a step, on a scale of its own
    checker = [float("nan") if e is None else -e / 1e6 for e in trace["error_micro_steps"]]
    checker_axis.plot(x, checker, color="0.2", linewidth=0.5, alpha=0.6, label="commanded - exact ideal, while delivering")
    checker_axis.set_ylim(-1.5, 1.5)
    checker_axis.set_ylabel("vs ideal, steps")
    lines = error.get_legend_handles_labels()
    more = checker_axis.get_legend_handles_labels()
    error.legend(lines[0] + more[0], lines[1] + more[1], loc="lower left", fontsize="small", framealpha=0.95)

    # 3. reservoir
    def ml(values, per_ml):
        return [float("nan") if v is None else v / per_ml for v in values]
    reservoir.plot(x, ml(trace["reservoir_steps"], true_spm), color="#1f77b4", linewidth=2, label="true")
    reservoir.plot(x, ml(trace["estimated_steps"], spm), color="#ff7f0e", linewidth=1.2, linestyle="--",
                   label="pump's estimate")
    reservoir.plot(x, ml(trace["low_steps"], spm), color="#ff9f1c", linewidth=1, linestyle=":",
                   label="low-reservoir threshold")
    reservoir.axhline(0, color="#d62728", linewidth=1, label="empty")
    reservoir.set_ylabel("reservoir, mL")
    reservoir.legend(loc="upper right", fontsize="small")

    # 4. line pressure
    pressure.plot(x, [p / 1000 for p in trace["pressure_mpsi"]], color="#17becf", linewidth=0.8,
                  label="line pressure (gauge, peak per sample)")
    pressure.axhline((BASELINE_MPSI + OCCLUSION_EXCESS_MPSI) / 1000, color="#d62728", linestyle="--",
                     linewidth=1, label="occlusion: %.1f psi over resting" % (OCCLUSION_EXCESS_MPSI / 1000))
    pressure.set_ylabel("pressure, psi")
    pressure.set_ylim(bottom=min(0, min(trace["pressure_mpsi"]) / 1000))
    pressure.legend(loc="upper right", fontsize="small")

    # 5. alarms, one row per kind
    kinds = []
    end_s = results["end_ms"] / 1000
    for kind, priority, raised_s, _ack, cleared_s in results["alarms"]:
        if kind not in kinds:
            kinds.append(kind)
        row = kinds.index(kind)
        start = raised_s * 1000 * scale
        width = max(((cleared_s if cleared_s is not None else end_s) - raised_s) * 1000 * scale,
                    duration_ms * scale / 400)  # a restart raised and cleared at once still shows
        alarm_axis.broken_barh([(start, width)], (row - 0.4, 0.8), color=PRIORITY_COLOURS[priority])
    alarm_axis.set_yticks(range(len(kinds)))
    alarm_axis.set_yticklabels(kinds or [], fontsize="small")
    alarm_axis.set_ylim(-0.6, max(len(kinds), 1) - 0.4)
    alarm_axis.invert_yaxis()
    alarm_axis.set_ylabel("alarms")
    if not kinds:
        alarm_axis.text(0.5, 0.5, "no alarm", transform=alarm_axis.transAxes, ha="center", va="center")
    alarm_axis.set_xlabel(xlabel)
    alarm_axis.set_xlim(0, duration_ms * scale)

    for axis in axes:
        axis.grid(True, linewidth=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
