"""The event log's reply goes out to the USB port row by row: fifty entries
are about 4 KB of reply and about 1 KB of short-lived objects each to make,
so the reply is never built whole in RAM (the chip's first build allocated
about 50 KB for `log n=50`)."""
# micropython-heap: 512K
# (the pump logic plus the simulated board and its flash, with a hundred log entries)
import json

from hw.sim.runner import Run
from simcase import scenario

LINE = b'{"cmd": "log", "args": {"n": 50}}'


def pump_with_a_long_log():
    """Thirty stops and resumes, each with a reason (a note joined to its entry)."""
    events = []
    for i in range(30):
        events.append({"at_h": 0.5 + i * 0.05, "do": "command",
                       "command": {"cmd": "stop", "args": {"reason": "line check %d" % i}}})
        events.append({"at_h": 0.52 + i * 0.05, "do": "command", "command": {"cmd": "resume"}})
    sim = Run(scenario(3, events=events))
    sim.run()
    return sim


def test_the_log_reply_goes_out_row_by_row_and_reads_as_one_line():
    sim = pump_with_a_long_log()
    pieces = []
    sim.commands.reply_to(pieces.append, LINE, sim.ctl.now_s())
    whole = b"".join(pieces)
    assert whole == sim.commands.handle_line(LINE, sim.ctl.now_s())
    reply = json.loads(whole)
    assert reply["ok"] and 30 < len(reply["entries"]) < 50  # fifty log entries, the notes joined in
    assert any("note" in entry for entry in reply["entries"])  # the reasons, joined to their stops
    assert len(whole) > 3000 and len(pieces) == len(reply["entries"]) + 5  # key, rows, "]", "ok" key and value, end
    assert max(len(piece) for piece in pieces) < 300  # a row at most: never the whole reply at once


def test_a_short_reply_is_the_same_json_written_whole_or_in_pieces():
    sim = pump_with_a_long_log()
    for line in (b'{"cmd": "status"}', b'{"cmd": "log", "args": {"n": 0}}', b'{"cmd": "nope"}'):
        pieces = []
        sim.commands.reply_to(pieces.append, line, sim.ctl.now_s())
        assert json.loads(b"".join(pieces)) == json.loads(sim.commands.handle_line(line, sim.ctl.now_s()))
