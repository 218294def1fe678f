"""The picture of a bench session on a board (tools/bench.py board --plot).

The pump's own event log is the record: before the session the newest seq
is noted, afterwards every newer entry is read back (tools/logexport.py), so
the picture shows what the pump logged, not what the bench tool believes.
Two panels on the pump's clock, minutes since the session's first entry:
a band per alarm from raised to cleared (a tick where it was acknowledged),
and a row of markers per kind of thing done to the pump (bench injections,
stops and resumes, commands, restarts). A third panel gives each tested
kind's alarm latency as the bench timed it, red where the test failed.
"""
import datetime

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import logexport  # noqa: E402
from pumplink import PumpLink  # noqa: E402
from simplot import PRIORITY_COLOURS  # noqa: E402

from pump.alarms import KIND_NAMES, PRIORITY, PRIORITY_NAMES, RULES  # noqa: E402 (path set by simplot's imports)

MARKED = ("bench_fault", "stopped", "resumed", "restart", "refill", "prescription", "command")


def newest_seq(port, timeout):
    """The newest entry's seq in the pump's log now (0 when it is empty)."""
    entries = PumpLink(port, None, None, timeout).request("log", {"n": 1})[0]["entries"]
    return entries[0]["seq"] if entries else 0


def entries_after(port, timeout, seq):
    """Every log entry newer than seq, oldest first."""
    link = PumpLink(port, None, None, timeout)
    return [e for e in logexport.fetch_all(lambda page: link.request("log", page)[0]) if e["seq"] > seq]


def _minutes(entries):
    start = datetime.datetime.fromisoformat(entries[0]["time"])
    return [(datetime.datetime.fromisoformat(e["time"]) - start).total_seconds() / 60 for e in entries]


def priority_of(kind):
    return PRIORITY_NAMES[RULES[KIND_NAMES.index(kind)][PRIORITY]] if kind in KIND_NAMES else "low"


def alarm_bands(entries, minutes):
    """[(kind, raised_min, cleared_min or None, [acknowledged_min])] in the order raised."""
    bands, open_ = [], {}
    for entry, at in zip(entries, minutes):
        kind = entry["detail"]
        if entry["event"] == "alarm_raised":
            open_[kind] = len(bands)
            bands.append((kind, at, None, []))
        elif entry["event"] == "alarm_acknowledged" and kind in open_:
            bands[open_[kind]][3].append(at)
        elif entry["event"] == "alarm_cleared" and kind in open_:
            i = open_.pop(kind)
            bands[i] = bands[i][:2] + (at,) + bands[i][3:]
    return bands


def plot_session(entries, rows, path, title, size=(11, 8), dpi=100):
    fig, (alarm_axis, event_axis, latency) = plt.subplots(3, 1, figsize=size, dpi=dpi,
                                                          gridspec_kw={"height_ratios": [3, 2, 2]})
    minutes = _minutes(entries) if entries else []
    end = max(minutes) if minutes else 1
    kinds = []
    for kind, raised, cleared, acks in alarm_bands(entries, minutes):
        if kind not in kinds:
            kinds.append(kind)
        row = kinds.index(kind)
        width = max((end if cleared is None else cleared) - raised, end / 300)
        alarm_axis.broken_barh([(raised, width)], (row - 0.35, 0.7), color=PRIORITY_COLOURS[priority_of(kind)])
        alarm_axis.plot(acks, [row] * len(acks), "k|", markersize=14)
    alarm_axis.set_yticks(range(len(kinds)))
    alarm_axis.set_yticklabels(kinds, fontsize="small")
    alarm_axis.set_ylim(len(kinds) - 0.5, -0.5)
    alarm_axis.set_title("alarms the pump logged, raised to cleared (|: acknowledged)", fontsize="medium")

    marked = [name for name in MARKED if any(e["event"] == name for e in entries)]
    for row, name in enumerate(marked):
        at = [m for e, m in zip(entries, minutes) if e["event"] == name]
        event_axis.plot(at, [row] * len(at), "o", markersize=5)
        previous = None
        for e, m in zip(entries, minutes):
            fault = e["detail"].split()[0] if e["event"] == name == "bench_fault" else None
            if fault is not None and fault != previous:  # a pressure ramp is one label, not one per step
                event_axis.annotate(fault, (m, row), textcoords="offset points", xytext=(3, 4), fontsize="x-small")
            previous = fault if fault is not None else previous
    event_axis.set_yticks(range(len(marked)))
    event_axis.set_yticklabels(marked, fontsize="small")
    event_axis.set_ylim(len(marked) - 0.5, -0.5)
    for axis in (alarm_axis, event_axis):
        axis.set_xlim(0, end * 1.02 + 0.1)
        axis.grid(True, linewidth=0.3)
    event_axis.set_xlabel("minutes since the session's first log entry (pump clock)")

    timed = [r for r in rows if r.get("alarm_after_s") is not None]
    latency.barh([r["kind"] for r in timed], [r["alarm_after_s"] for r in timed],
                 color=["#d62728" if r["result"] == "FAIL" else "#2ca02c" for r in timed])
    latency.invert_yaxis()
    latency.set_xlabel("alarm after the injection, s (bench-timed; red: the test failed)")
    latency.tick_params(axis="y", labelsize="small")
    latency.grid(True, axis="x", linewidth=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
