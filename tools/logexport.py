"""The pump's whole event log, page by page, into a CSV or JSON file.

`pumpctl log --export events.csv` (or .json) uses it: the `log` command
returns at most 50 entries, newest first; asking again with `before` set to
the oldest seq received gives the next page, until the pump has nothing
older. A note (the words that explain an entry) rides in its entry. The
file lists the entries oldest first, as the pump numbered them (seq, time,
event, detail, note); a gap in seq is an entry the pump found damaged or
that rolled off the end of the ring.
"""
import csv
import json

PAGE = 50  # the most one `log` command returns
COLUMNS = ("seq", "time", "event", "detail", "note")


class ExportError(ValueError):
    """The file cannot be written in the format its name asks for."""


def export_format(path):
    """'csv' or 'json', from the file name."""
    lowered = path.lower()
    for suffix in ("csv", "json"):
        if lowered.endswith("." + suffix):
            return suffix
    raise ExportError("%s: the export file must end in .csv or .json" % path)


def fetch_all(request):
    """Every entry the pump still holds, oldest first. `request(args)`
    sends one `log` command and returns its reply (a dict)."""
    entries, before = [], None
    while True:
        args = {"n": PAGE} if before is None else {"n": PAGE, "before": before}
        page = request(args)["entries"]
        if not page:
            return entries[::-1]
        entries.extend(page)
        before = page[-1]["seq"]
        if before <= 1:
            return entries[::-1]


def write(entries, path):
    """Write the entries to path, as its name's format asks."""
    kind = export_format(path)
    with open(path, "w", newline="") as f:
        if kind == "json":
            json.dump(entries, f, indent=1)
            f.write("\n")
            return
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for entry in entries:
            out.writerow(["" if entry.get(column) is None else entry[column] for column in COLUMNS])
