"""Simulate the pump on the reference board: python tools/sim.py SCENARIO.json

    --json                        the JSON report (README, "Simulation"), alone on stdout
    --interpreter micropython     run the pump (and the simulated board) in the
                                  MicroPython unix port instead of this CPython
    --plot OUT.png                also draw the run (tools/simplot.py): dose per
                                  hour, dose error, reservoir, line pressure, alarms
    --card [--card-png FILE]      then print the refill-visit card at the end of
                                  the run (and write it as a one-page PNG)

The scenario is checked and normalised to integers here; hw/sim/runner.py
runs it and returns integers; the report is rendered here from them. So the
report is the same, byte for byte, whichever interpreter ran the pump.
A bad scenario exits with status 2 and one line naming the field.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import textwrap

import card
from mpenv import ROOT, build_mpy, micropython_command, micropython_env
from scenario import EPOCH, ScenarioError, normalise, shorten_numbers

SIM_HEAP = "16M"  # the simulator's physics, ledgers and report ride along (10 000
                  # power cuts, scenario.MAX_EVENTS, need more than 8M); the pump
                  # logic's own heap use is measured against 160K by bench/run_all.py


def run_cpython(scenario):
    from hw.sim.runner import Run, ScenarioRefused
    try:
        return Run(scenario).run()
    except ScenarioRefused as exc:
        raise ScenarioError("prescription: the pump refused %s: %s: %s" % exc.args)


def run_micropython(scenario):
    build_mpy()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(scenario, f)
    try:
        result = subprocess.run(micropython_command(SIM_HEAP) + ["hw/sim/runner.py", f.name],
                                cwd=ROOT, env=micropython_env(), capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    if result.returncode:
        last = (result.stderr or result.stdout).strip().splitlines()
        raise SystemExit("micropython run failed: %s" % (last[-1] if last else result.returncode))
    results = json.loads(result.stdout)
    if "refused" in results:
        raise ScenarioError("prescription: the pump refused %s: %s: %s" % tuple(results["refused"]))
    return results


def _iso(scenario, run_s):
    start = EPOCH + datetime.timedelta(days=scenario["start_day"], milliseconds=scenario["start_ms"])
    return (start + datetime.timedelta(seconds=run_s)).isoformat()


def report(scenario, results):
    """The report (dose per day, volume, accuracy, reservoir, alarms) from
    the runner's integers."""
    true_spm = results["true_steps_per_ml"]
    end_ms = results["end_ms"]
    to_empty = results["ms_to_empty"]
    return {
        "programmed_ul": round(results["programmed_pl"] / 1e6, 3),
        "delivered_ul": round(results["delivered_steps"] * 1000 / true_spm, 3),
        "max_dose_error_steps": results["max_dose_error_steps"],
        "daily": [{"day": i, "programmed_mcg": round(p / 3.6e9, 3), "delivered_mcg": round(d / true_spm, 3)}
                  for i, (p, d) in enumerate(results["daily"])],
        "reservoir": {"true_ml": round(results["true_reservoir_steps"] / true_spm, 3),
                      "estimated_ml": round(results["estimated_reservoir_nl"] / 1e6, 3),
                      "projected_empty": None if to_empty is None else _iso(scenario, (end_ms + to_empty) // 1000)},
        "alarms": [{"kind": k, "priority": p, "raised_s": r, "acknowledged_s": a, "cleared_s": c}
                   for k, p, r, a, c in results["alarms"]],
        "flash_writes": results["flash_writes"],
        "log_entries": results["log_entries"],
        "bolus_released_on_clearing_ul": round(results["released_on_clear_steps"] * 1000 / true_spm, 3),
        "restarts": results["restarts"],
        "annunciation": {"buzzer": [{"at_s": t // 1000, "tone": tone} for t, tone in results["annunciations"]["buzzer"]],
                         "lamps": [{"at_s": t // 1000, "lamp": colour, "on_ms": on, "off_ms": off}
                                   for t, colour, on, off in results["annunciations"]["lamps"]]},
        "wake_ups": results["wakes"],
        # as objects with sorted keys: MicroPython's json writes dict keys in another order
        "command_replies": [json.loads(r, object_pairs_hook=lambda pairs: dict(sorted(pairs)))
                            for r in results["replies"]],
        "refused_commands": refused_commands(results["commands"]),
        "powered_at_end": results["powered_at_end"],
        **tip_report(results["tip"], results["daily"], true_spm),
    }


def tip_report(tip, daily, true_spm):
    """The dose at the catheter tip (hw/sim/catheter.py), when the scenario
    describes the line: per day, and per hour beside the programmed."""
    if tip is None:
        return {}
    tip_daily = tip["daily"] + [0] * (len(daily) - len(tip["daily"]))
    hours = max(len(tip["hourly"]), len(tip["programmed_hourly"]))
    tip_hourly = tip["hourly"] + [0] * (hours - len(tip["hourly"]))
    programmed = tip["programmed_hourly"] + [0] * (hours - len(tip["programmed_hourly"]))
    return {"tip_daily_mcg": [round(t / true_spm, 3) for t in tip_daily],
            "tip_hourly": [{"hour": h, "programmed_mcg": round(p / 3.6e9, 3), "tip_mcg": round(t / true_spm, 3)}
                           for h, (p, t) in enumerate(zip(programmed, tip_hourly))]}


def tip_excursion(hourly):
    """The hour whose tip dose strays furthest from the programmed, in words."""
    worst = None
    for row in hourly:
        if row["programmed_mcg"] > 0:
            pct = 100 * row["tip_mcg"] / row["programmed_mcg"]
            if worst is None or abs(pct - 100) > abs(worst[1] - 100):
                worst = (row["hour"], pct)
    if worst is None:
        return "nothing programmed"
    return "furthest from the programmed dose in hour %d, at %.1f %% of it" % worst


def refused_commands(commands):
    """Every command of the run the pump did not carry out, with its reason:
    its refusal, or no answer at all (the power was off, or died in it)."""
    refused = []
    for t_ms, name, reply in commands:
        answer = json.loads(reply) if reply is not None else {"ok": False, "error": "no_answer",
                                                               "message": "the pump did not answer (no power)"}
        if not answer["ok"]:
            refused.append({"at_s": t_ms // 1000, "cmd": name, "error": answer["error"],
                            "message": answer["message"]})
    return refused


def _hms(seconds):
    if seconds is None:
        return "-"
    return "%dd %02d:%02d:%02d" % (seconds // 86400, seconds // 3600 % 24, seconds // 60 % 60, seconds % 60)


def summary(rep, name, description):
    lines = ["Simulated run: %s" % name]
    if description:
        lines += textwrap.wrap(description, 78, initial_indent="  ", subsequent_indent="  ")
    lines.append("")
    tip = rep.get("tip_daily_mcg")
    lines.append("Dose per day (mcg)       programmed    delivered    difference" + ("   at the tip" if tip else ""))
    for d in rep["daily"]:
        lines.append("  day %3d              %12.3f %12.3f %+12.3f" % (
            d["day"], d["programmed_mcg"], d["delivered_mcg"], d["delivered_mcg"] - d["programmed_mcg"])
            + (" %12.3f" % tip[d["day"]] if tip else ""))
    if tip:
        lines += ["", "At the catheter tip (delivered is at the pump's outlet): " + tip_excursion(rep["tip_hourly"])]
    lines += ["", "Volume: programmed %.3f uL, delivered %.3f uL" % (rep["programmed_ul"], rep["delivered_ul"]),
              "Accuracy: while delivering, commanded steps stayed within %d step(s) of the ideal"
              % rep["max_dose_error_steps"]]
    res = rep["reservoir"]
    above = res["estimated_ml"] > res["true_ml"]
    lines.append("Reservoir: %.3f mL left (pump's estimate %.3f mL, %s), empty %s"
                 % (res["true_ml"], res["estimated_ml"], "ABOVE the truth" if above else "not above",
                    res["projected_empty"] or "- (not delivering)"))
    if not rep["powered_at_end"]:
        lines.append("The power was still off when the run ended: the pump's figures are from before the cut")
    lines += ["", "Refused commands (time since start)"]
    for r in rep["refused_commands"]:
        lines.append("  %-13s %-16s %s: %s" % (_hms(r["at_s"]), r["cmd"], r["error"], r["message"]))
    if not rep["refused_commands"]:
        lines.append("  none")
    lines += ["", "Alarms (time since start)  priority   raised        acknowledged  cleared"]
    for a in rep["alarms"] or []:
        lines.append("  %-24s %-8s %-13s %-13s %s" % (a["kind"], a["priority"], _hms(a["raised_s"]),
                                                     _hms(a["acknowledged_s"]), _hms(a["cleared_s"])))
    if not rep["alarms"]:
        lines.append("  none")
    lines += ["", "Flash writes %d, event-log entries %d, restarts %d, controller wake-ups %d"
              % (rep["flash_writes"], rep["log_entries"], rep["restarts"], rep["wake_ups"])]
    return "\n".join(lines)


def _refuse_constant(name):
    raise ValueError("%s is not a number JSON allows" % name)


def _finite(text):
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("%s is too large a number" % shorten_numbers(text))
    return value


def load_scenario(path):
    """The scenario file, checked and normalised: (raw, normalised).
    Raises OSError or ValueError (one line of text) when it cannot be run."""
    with open(path) as f:
        try:
            raw = json.load(f, parse_constant=_refuse_constant, parse_float=_finite)
        except RecursionError:
            raise ValueError("nested too deeply to be a scenario")
    return raw, normalise(raw)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario")
    parser.add_argument("--json", action="store_true", help="print the JSON report only")
    parser.add_argument("--interpreter", choices=("cpython", "micropython"), default="cpython")
    parser.add_argument("--plot", metavar="OUT.png", help="draw the run into this PNG")
    parser.add_argument("--card", action="store_true", help="print the refill-visit card at the end of the run")
    parser.add_argument("--card-png", metavar="FILE", help="and write it as a one-page PNG")
    args = parser.parse_args(argv)
    if args.card_png and not args.card:
        parser.error("--card-png goes with --card")
    try:
        raw, scenario = load_scenario(args.scenario)
        scenario["card"] = args.card
        if args.plot:
            from simplot import sample_interval_ms
            scenario["trace_ms"] = sample_interval_ms(scenario["duration_ms"])
        results = run_micropython(scenario) if args.interpreter == "micropython" else run_cpython(scenario)
    except OSError as exc:
        print("%s: %s" % (args.scenario, exc.strerror), file=sys.stderr)
        return 2
    except ValueError as exc:  # ScenarioError, and json's JSONDecodeError
        print("%s: %s" % (args.scenario, shorten_numbers(str(exc).splitlines()[0])), file=sys.stderr)
        return 2
    rep = report(scenario, results)
    if args.plot:
        from simplot import plot_run
        try:
            plot_run(scenario, results, args.plot, "Simulated run: %s" % os.path.basename(args.scenario))
        except OSError as exc:
            print("%s: %s" % (args.plot, exc.strerror), file=sys.stderr)
            return 2
    print(json.dumps(rep, indent=2) if args.json else
          summary(rep, os.path.basename(args.scenario), raw.get("description")))
    if args.card:
        if results["card"] is None:
            print("%s: no card: the pump is off at the end of the run" % args.scenario, file=sys.stderr)
            return 1
        return print_card(json.loads(results["card"]), args.card_png)
    return 0


def print_card(reply, png_path):
    """The card the pump gives at the end of the run: its text, and the PNG."""
    print()
    print(card.text(reply))
    if png_path:
        try:
            card.png(reply, png_path)
        except OSError as exc:
            print("%s: %s" % (png_path, exc.strerror), file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
