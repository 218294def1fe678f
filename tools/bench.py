"""bench: trigger each alarm and time it, in the simulator or on a board (README, "Bench tools").

    python tools/bench.py sim [KIND ...] [--interpreter micropython] [--json]
    python tools/bench.py board --port /dev/ttyACM0 --key-file device.key [--rig WIRING] [TEST|KIND ...] [--json]

sim runs tools/scenarios/alarms/KIND.json and reads from its report when the
alarm rose after the fault, what the buzzer and lamp showed, whether delivery
stopped. board drives a programmed, delivering pump over serial, one test
per way an alarm kind can rise (pressure_sensor_fault: open, stuck, out of
range): it injects the fault (`bench`, which needs the BENCH-ENABLE jumper
at boot, or `stop`, which does not), polls `alarms` until the alarm shows,
timed by this computer's monotonic clock, then undoes it with the command
that injected it (`bench clear`, `resume`), acknowledges and resumes.
With --rig, a Blinka rig (tools/benchrig.py) injects faults electrically
and times the buzzer and lamp lines themselves.

Each kind is judged against the bench plan: the priority the risk analysis
gives it and the IEC 60601-1-8 signal of that priority. Every alarm the
pump raised during a test is listed, and one the test does not expect
fails it. The occlusion test also reports the volume pushed into the
blocked line before the alarm, in uL.

Exit codes: 0 every kind passed or was skipped; 1 a kind failed; 2 bad usage
or a bad scenario; 3 the board did not answer; 4 the port, key file, counter
file, rig or bench mode is not usable.
"""
import argparse
import json
import os
import sys

from benchboard import TEST_KIND, kinds_without_a_test, run_board, tests_for
from benchplan import EXIT_FAIL, EXPECTED_PRIORITY, BenchError, judged, problems, unexpected
from mpenv import ROOT
from pumpctl import EXIT_LINK, EXIT_USAGE, open_serial
from pumplink import LinkError, NoAnswer, PumpRefused
from scenario import normalise
from sessionplot import entries_after, newest_seq, plot_session
from sim import report, run_cpython, run_micropython

from pump.alarms import KIND_NAMES  # noqa: E402 (sys.path set by the imports above)

ALARM_DIR = os.path.join(ROOT, "tools", "scenarios", "alarms")
# A scenario makes its fault the way a pump meets it, which can raise more on
# the way: a reservoir run down by delivery passes its low threshold first.
ON_THE_WAY = {"empty_reservoir": ("low_reservoir",)}

# ----------------------------------------------------------------- simulator

def played_at(timeline, at_s):
    """The pattern that started last at or before at_s."""
    started = [entry for entry in timeline if entry["at_s"] <= at_s]
    return started[-1] if started else None


def sim_row(kind, interpreter="cpython"):
    """Run the kind's scenario and judge its first alarm of that kind. The
    fault is the last scenario event at or before the raise (None when the
    condition was there from the start or grew during the run)."""
    with open(os.path.join(ALARM_DIR, kind + ".json")) as f:
        raw = json.load(f)
    scenario = normalise(raw)
    rep = report(scenario, (run_micropython if interpreter == "micropython" else run_cpython)(scenario))
    row = {"kind": kind, "expected": EXPECTED_PRIORITY[kind], "priority": None, "raised_s": None,
           "fault_at_s": None, "alarm_after_s": None, "tone": None, "lamp": None, "flash_period_ms": None,
           "delivery_stopped": None, "raised": [a["kind"] for a in rep["alarms"]]}
    surplus = unexpected(kind, [k for k in row["raised"] if k not in ON_THE_WAY.get(kind, ())])
    alarm = next((a for a in rep["alarms"] if a["kind"] == kind), None)
    if alarm is None:
        return judged(row, problems(row["expected"], None) + surplus)
    raised = alarm["raised_s"]
    faults = [round(e["at_h"] * 3600) for e in raw.get("events", []) if e["at_h"] * 3600 <= raised]
    tone = played_at(rep["annunciation"]["buzzer"], raised)
    lamp = played_at(rep["annunciation"]["lamps"], raised)
    row.update(priority=alarm["priority"], raised_s=raised, fault_at_s=max(faults) if faults else None,
               tone=tone and tone["tone"], lamp=lamp and lamp["lamp"],
               flash_period_ms=lamp and (lamp["on_ms"] + lamp["off_ms"] if lamp["off_ms"] else 0),
               delivery_stopped=any(a["kind"] == "delivery_stopped" and a["raised_s"] >= raised
                                    for a in rep["alarms"]))
    if row["fault_at_s"] is not None:
        row["alarm_after_s"] = raised - row["fault_at_s"]
    return judged(row, problems(row["expected"], row["priority"], row["tone"], row["lamp"],
                                row["flash_period_ms"]) + surplus)


# -------------------------------------------------------------------- output

def _s(value, digits=0):
    return "-" if value is None else "%.*f" % (digits, value)


def _yes(value):
    return "-" if value is None else ("yes" if value else "no")


def _raised(row):
    return ", ".join(row["raised"]) or "-"


def _lamp(row):
    if row["lamp"] is None:
        return "-"
    period = row["flash_period_ms"]
    return "%s %s" % (row["lamp"], "%d ms" % period if period else "steady")


SIM_COLUMNS = (
    ("kind", lambda r: r["kind"]), ("expected", lambda r: r["expected"]),
    ("priority", lambda r: r["priority"] or "-"), ("raised s", lambda r: _s(r["raised_s"])),
    ("fault at s", lambda r: _s(r["fault_at_s"])), ("after fault s", lambda r: _s(r["alarm_after_s"])),
    ("buzzer", lambda r: r["tone"] or "-"), ("lamp (flash period)", _lamp),
    ("stops", lambda r: _yes(r["delivery_stopped"])), ("raised", _raised), ("result", lambda r: r["result"]),
)
BOARD_COLUMNS = (
    ("test", lambda r: r["test"]), ("kind", lambda r: r["kind"]), ("expected", lambda r: r["expected"]),
    ("priority", lambda r: r["priority"] or "-"), ("injected by", lambda r: r["injected_by"] or "-"),
    ("alarm after s", lambda r: _s(r["alarm_after_s"], 3)), ("+/- s", lambda r: _s(r["resolution_s"], 3)),
    ("timed by", lambda r: r["timed_by"] or "-"), ("pushed uL", lambda r: _s(r["pushed_ul"], 1)),
    ("pulses", lambda r: _s(r["burst_pulses"])), ("stops", lambda r: _yes(r["delivery_stopped"])),
    ("raised", _raised), ("result", lambda r: r["result"]),
)


def table(rows, columns):
    cells = [[cell(row) for _name, cell in columns] for row in rows]
    widths = [max([len(name)] + [len(line[i]) for line in cells]) for i, (name, _cell) in enumerate(columns)]
    lines = ["  ".join(text.ljust(w) for text, w in zip(line, widths)).rstrip()
             for line in [[name for name, _cell in columns]] + cells]
    for row in rows:
        lines.extend("  %s: %s" % (row.get("test", row["kind"]), text)
                     for text in row["problems"] + [row.get("note")] if text)
    return "\n".join(lines)


def _on_port(options, open_port, read):
    """read(port) on a connection of its own (the session's is closed by then)."""
    try:
        port = open_port(options.port, options.baud)
        try:
            return read(port)
        finally:
            port.close()
    except (LinkError, NoAnswer, PumpRefused, OSError) as exc:
        raise BenchError("reading the event log for --plot: %s" % exc, EXIT_LINK)


def build_parser():
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    modes = parser.add_subparsers(dest="mode", required=True)
    sim = modes.add_parser("sim", help="every alarm in the simulator")
    sim.add_argument("--interpreter", choices=("cpython", "micropython"), default="cpython")
    board = modes.add_parser("board", help="alarms injected into a board in bench mode")
    board.add_argument("--port", required=True, help="serial device or pyserial URL")
    board.add_argument("--key-file", required=True, help="device key, 64 hex digits")
    board.add_argument("--counter-file", help="keep this host's command counter here")
    board.add_argument("--baud", type=int, default=115200, help="baud rate (USB CDC ignores it)")
    board.add_argument("--timeout", type=float, default=2.0, metavar="S", help="seconds to wait for a reply")
    board.add_argument("--alarm-timeout", type=float, default=600, metavar="S",
                       help="seconds to wait for each alarm (600)")
    board.add_argument("--poll", type=float, default=0.5, metavar="S", help="seconds between polls (0.5)")
    board.add_argument("--settle", type=float, default=120, metavar="S",
                       help="seconds to wait for delivery to resume (120)")
    board.add_argument("--rig", metavar="WIRING",
                       help="Blinka rig: a JSON wiring file or ROLE=PIN,... (see tools/benchrig.py)")
    sim.add_argument("kinds", nargs="*", metavar="KIND", help="alarm kinds (default: all)")
    board.add_argument("kinds", nargs="*", metavar="TEST|KIND",
                       help="tests, or alarm kinds for all their tests (default: all)")
    board.add_argument("--plot", metavar="OUT.png",
                       help="draw the session from the pump's event log (tools/sessionplot.py)")
    for sub in (sim, board):
        sub.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def main(argv=None, open_port=open_serial):
    parser = build_parser()
    options = parser.parse_args(argv)
    names = list(EXPECTED_PRIORITY) + (list(TEST_KIND) if options.mode == "board" else [])
    unknown = [name for name in options.kinds if name not in names]
    if unknown:
        parser.error("unknown %s %s (%s)" % ("alarm kind" if options.mode == "sim" else "test or alarm kind",
                                            ", ".join(unknown), ", ".join(dict.fromkeys(names))))
    missing = kinds_without_a_test()
    if missing:  # pump.alarms grew a kind that the bench cannot raise yet
        print("bench: no bench test raises %s (add one to tools/benchboard.py)" % ", ".join(missing),
              file=sys.stderr)
        return EXIT_FAIL
    options.kinds = options.kinds or list(KIND_NAMES)
    if options.mode == "sim":
        try:
            rows = [sim_row(kind, options.interpreter) for kind in options.kinds]
        except (OSError, ValueError) as exc:  # ScenarioError and JSON errors are ValueErrors
            print("bench: %s" % str(exc).splitlines()[0], file=sys.stderr)
            return EXIT_USAGE
        columns, summary = SIM_COLUMNS, {"mode": "sim", "interpreter": options.interpreter}
    else:
        try:
            seq = _on_port(options, open_port, lambda port: newest_seq(port, options.timeout)) if options.plot else 0
            rows = run_board(options, open_port, tests_for(options.kinds))
            if options.plot:
                entries = _on_port(options, open_port, lambda port: entries_after(port, options.timeout, seq))
                plot_session(entries, rows, options.plot, "Bench session on %s" % options.port)
        except BenchError as exc:
            print("bench: %s" % exc.args[0], file=sys.stderr)
            return exc.args[1]
        columns, summary = BOARD_COLUMNS, {"mode": "board", "port": options.port, "rig": bool(options.rig)}
    failed = any(row["result"] == "FAIL" for row in rows)
    summary.update(passed=not failed, kinds=rows)
    print(json.dumps(summary, indent=2) if options.json else table(rows, columns))
    return EXIT_FAIL if failed else 0


if __name__ == "__main__":
    sys.exit(main())
