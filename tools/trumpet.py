"""Flow accuracy as IEC 60601-2-24 reports it: start-up curve and trumpet curve.

    python tools/trumpet.py sim SCENARIO.json [--plot OUT.png] [--json]
    python tools/trumpet.py balance LOG.csv --rate-ml-h 0.0417 [--density 0.998]
                            [--evaporation-mg-per-h 0.3] [--plot OUT.png] [--json]

The input is delivered volume against time: from the simulator (the
plunger's true travel, sampled every 30 s: what a balance under the outlet
would weigh), or from a bench balance's log (CSV rows of time in s and mass
in g; a header row is skipped; mass becomes volume through the drug's
density, and a measured evaporation rate can be added back).

What is computed, in this project's words (docs/BENCHMARKS.md, "Flow accuracy"):
- samples: delivered volume V_i every dt = 30 s from the start of the
  infusion (a log at another pace is interpolated linearly onto that grid);
- flow of sample i: Q_i = (V_i - V_(i-1)) / dt, in mL/h;
- start-up curve: Q_i over the first 2 h, against the set rate r;
- analysis period: by default the second hour (60 to 120 min), once the
  start-up is over; a longer one can be chosen (--analysis-min FROM TO) where
  the rate is so low that an hour holds only a few motor steps;
- mean flow error A: the volume delivered over the analysis period against
  r times its length, in percent;
- trumpet curve: for each observation window of P = 2, 5, 11, 19 and 31 min,
  every window of that length that fits in the analysis period, slid by one
  sample; a window's error is its mean flow's deviation from r, in percent
  (the same as the mean of the Q_i errors inside it); Ep(max) and Ep(min) are
  the largest and the smallest over all those windows.
Exit codes: 0 done; 2 bad input (one line on stderr).
"""
import argparse
import csv
import json
import math
import os
import sys

from mpenv import add_to_sys_path

add_to_sys_path()

SAMPLE_S = 30
WINDOWS_MIN = (2, 5, 11, 19, 31)
STARTUP_MIN = 120
ANALYSIS_MIN = (60, 120)
WATER_DENSITY_G_PER_ML = 0.998  # at about 20-23 C; baclofen solutions are within a part per thousand


class TrumpetError(ValueError):
    """Input that cannot give a flow-accuracy report; the text says why."""


def resample(times_s, values, dt_s=SAMPLE_S):
    """values at t0, t0 + dt, ... up to the last time, by linear interpolation."""
    if len(times_s) < 2 or any(b <= a for a, b in zip(times_s, times_s[1:])):
        raise TrumpetError("times must increase, with at least two rows")
    out, j = [], 0
    t = times_s[0]
    while t <= times_s[-1] + 1e-9:
        while times_s[j + 1] < t:
            j += 1
        t0, t1 = times_s[j], times_s[j + 1]
        out.append(values[j] + (values[j + 1] - values[j]) * (t - t0) / (t1 - t0))
        t += dt_s
    return out


def flows_ml_h(volumes_ml, dt_s=SAMPLE_S):
    """Q_i for i >= 1: the flow over each sample interval."""
    return [(b - a) * 3600 / dt_s for a, b in zip(volumes_ml, volumes_ml[1:])]


def analyse(volumes_ml, rate_ml_h, dt_s=SAMPLE_S, analysis_min=ANALYSIS_MIN, windows_min=WINDOWS_MIN):
    """The report of a series of delivered volumes sampled every dt_s from the start."""
    if not rate_ml_h > 0:
        raise TrumpetError("the set rate must be above 0 mL/h")
    first, last = (int(round(m * 60 / dt_s)) for m in analysis_min)
    if not 0 <= first < last or last >= len(volumes_ml):
        raise TrumpetError("the analysis period %g-%g min needs %g min of samples; the series has %g"
                           % (analysis_min[0], analysis_min[1], analysis_min[1], (len(volumes_ml) - 1) * dt_s / 60))

    def error_pc(v0, v1, samples):
        return 100 * ((v1 - v0) * 3600 / (samples * dt_s) - rate_ml_h) / rate_ml_h

    trumpet = []
    for minutes in windows_min:
        p = int(round(minutes * 60 / dt_s))
        errors = [error_pc(volumes_ml[j], volumes_ml[j + p], p) for j in range(first, last - p + 1)]
        if errors:
            trumpet.append({"window_min": minutes, "windows": len(errors), "max_pc": max(errors), "min_pc": min(errors)})
    startup_samples = min(len(volumes_ml) - 1, int(STARTUP_MIN * 60 / dt_s))
    return {
        "rate_ml_h": rate_ml_h, "sample_s": dt_s, "analysis_min": list(analysis_min),
        "mean_error_pc": error_pc(volumes_ml[first], volumes_ml[last], last - first),
        "trumpet": trumpet,
        "startup": {"t_min": [(i + 1) * dt_s / 60 for i in range(startup_samples)],
                    "flow_ml_h": flows_ml_h(volumes_ml[:startup_samples + 1], dt_s)},
    }


# --------------------------------------------------------------- inputs

def balance_volumes(rows, density_g_per_ml=WATER_DENSITY_G_PER_ML, evaporation_mg_per_h=0.0):
    """(times_s, volumes_ml) from a balance log's (time_s, mass_g) rows: the
    mass gained since the first row, plus what evaporated since, over density."""
    if not density_g_per_ml > 0:
        raise TrumpetError("the density must be above 0 g/mL")
    t0, m0 = rows[0]
    times = [t - t0 for t, _m in rows]
    volumes = [(m - m0 + evaporation_mg_per_h / 1000 * (t - t0) / 3600) / density_g_per_ml for t, m in rows]
    return times, volumes


def read_balance_log(path):
    """Rows of (time in s, mass in g) from a CSV; a first row that is not numbers is a header."""
    rows = []
    with open(path, newline="") as f:
        for n, row in enumerate(csv.reader(f), 1):
            if not row or not "".join(row).strip():
                continue
            try:
                t, m = float(row[0]), float(row[1])
            except (ValueError, IndexError):
                if rows or n > 1:
                    raise TrumpetError("%s line %d: expected time_s,mass_g, got %r" % (path, n, ",".join(row)))
                continue
            if not (math.isfinite(t) and math.isfinite(m)):
                raise TrumpetError("%s line %d: not a finite number" % (path, n))
            rows.append((t, m))
    if len(rows) < 2:
        raise TrumpetError("%s: fewer than two readings" % path)
    return rows


def simulated_volumes(scenario, hours=None):
    """(volumes_ml every 30 s, set rate mL/h) of a normalised scenario with
    one constant rate, from the simulated plunger's true travel."""
    from hw.sim.runner import Run
    steps = scenario["prescription"]
    if len(steps) != 1:
        raise TrumpetError("prescription: a flow-accuracy test needs one constant rate, got %d steps" % len(steps))
    scenario = dict(scenario, trace_ms=SAMPLE_S * 1000)
    if hours is not None:
        scenario["duration_ms"] = int(hours * 3_600_000)
    results = Run(scenario).run()
    spm = results["true_steps_per_ml"]
    rate_ml_h = steps[0][1] / scenario["concentration_ng_per_ul"] / 1000
    return [s / spm for s in results["trace"]["plunger_steps"]], rate_ml_h


# --------------------------------------------------------------- output

def table(report):
    lines = ["Set rate %.6g mL/h, samples every %d s, analysis period %g-%g min"
             % (report["rate_ml_h"], report["sample_s"], *report["analysis_min"]),
             "Mean flow error A over the analysis period: %+.3f %%" % report["mean_error_pc"], "",
             "window min  windows   Ep(max) %   Ep(min) %"]
    for row in report["trumpet"]:
        lines.append("%10d  %7d  %+10.3f  %+10.3f" % (row["window_min"], row["windows"], row["max_pc"], row["min_pc"]))
    return "\n".join(lines)


def plot(reports, path, title, size=(11, 5), dpi=100):
    """Start-up curve of the first report (left) and the trumpet curves of
    all (right): [(label, report)], a pump and its naive peers. Curves that
    coincide stay visible: each is drawn thinner than the one before it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (startup, trumpet) = plt.subplots(1, 2, figsize=size, dpi=dpi)
    first_label, first = reports[0]
    start = first["startup"]
    startup.step(start["t_min"], [q * 1000 for q in start["flow_ml_h"]], where="pre", color="#1f77b4", linewidth=0.8)
    startup.axhline(first["rate_ml_h"] * 1000, color="0.3", linestyle="--", linewidth=1)
    startup.set_xlabel("minutes since the start")
    startup.set_ylabel("flow over each 30 s, uL/h")
    startup.set_title("start-up curve: %s\n(dashed: the set rate)" % first_label, fontsize="medium")
    colours = ("#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd")
    for n, ((label, report), colour) in enumerate(zip(reports, colours)):
        windows = [row["window_min"] for row in report["trumpet"]]
        width = 5 - 1.2 * n
        trumpet.plot(windows, [row["max_pc"] for row in report["trumpet"]], marker="^", color=colour,
                     linewidth=width, alpha=0.75, markersize=4 + width,
                     label="%s (A %+.3f %%)" % (label, report["mean_error_pc"]))
        trumpet.plot(windows, [row["min_pc"] for row in report["trumpet"]], marker="v", color=colour,
                     linewidth=width, alpha=0.75, markersize=4 + width)
        trumpet.axhline(report["mean_error_pc"], color=colour, linestyle=":", linewidth=1.2)
    trumpet.axhline(0, color="0.3", linewidth=0.8)
    trumpet.set_xlabel("observation window, min")
    trumpet.set_ylabel("flow error, %")
    trumpet.set_xticks(list(WINDOWS_MIN))
    trumpet.set_title("trumpet curve, analysis period %g-%g min\n(up: Ep(max), down: Ep(min), dotted: mean error A)"
                      % tuple(first["analysis_min"]), fontsize="medium")
    for axis in (startup, trumpet):
        axis.grid(True, linewidth=0.3)
    fig.suptitle(title)
    fig.legend(loc="lower center", ncol=2, fontsize="small", frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.035 * ((len(reports) + 1) // 2), 1, 1))
    fig.savefig(path)
    plt.close(fig)


def build_parser():
    parser = argparse.ArgumentParser(prog="trumpet", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    sources = parser.add_subparsers(dest="source", required=True)
    sim = sources.add_parser("sim", help="a simulated run of a one-rate scenario")
    sim.add_argument("scenario")
    balance = sources.add_parser("balance", help="a balance log: CSV of time_s, mass_g")
    balance.add_argument("log")
    balance.add_argument("--rate-ml-h", type=float, required=True, help="the rate the pump was set to")
    balance.add_argument("--density", type=float, default=WATER_DENSITY_G_PER_ML, metavar="G_PER_ML",
                         help="density of what the pump delivers (default %(default)s)")
    balance.add_argument("--evaporation-mg-per-h", type=float, default=0.0, metavar="MG_PER_H",
                         help="mass the beaker loses by evaporation, measured with no flow (default 0)")
    for sub in (sim, balance):
        sub.add_argument("--analysis-min", type=float, nargs=2, default=ANALYSIS_MIN, metavar=("FROM", "TO"),
                         help="analysis period in minutes from the start (default 60 120)")
        sub.add_argument("--plot", metavar="OUT.png", help="draw the start-up and trumpet curves")
        sub.add_argument("--json", action="store_true", help="the report as JSON")
    return parser


def main(argv=None):
    options = build_parser().parse_args(argv)
    source = options.scenario if options.source == "sim" else options.log
    try:
        if options.source == "sim":
            from sim import load_scenario
            _raw, scenario = load_scenario(options.scenario)
            hours = max(options.analysis_min[1], STARTUP_MIN) / 60
            volumes, rate = simulated_volumes(scenario, hours)
        else:
            times, masses = balance_volumes(read_balance_log(options.log), options.density,
                                            options.evaporation_mg_per_h)
            volumes, rate = resample(times, masses), options.rate_ml_h
        report = analyse(volumes, rate, analysis_min=tuple(options.analysis_min))
        if options.plot:
            plot([(os.path.basename(source), report)], options.plot, "Flow accuracy: %s" % os.path.basename(source))
    except OSError as exc:
        print("trumpet: %s: %s" % (exc.filename or source, exc.strerror), file=sys.stderr)
        return 2
    except ValueError as exc:  # TrumpetError, ScenarioError, JSON errors
        print("trumpet: %s" % str(exc).splitlines()[0], file=sys.stderr)
        return 2
    print(json.dumps(report) if options.json else table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
