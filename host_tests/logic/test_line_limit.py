"""The line limit and the command table agree: the longest command the table
allows fits in a line, and the limit is computed from the table, so it grows
with it (a thirteen-step day, a longer text) instead of refusing what the
table accepts."""
import json

from pump.protocol import MAX_COUNTER, MAX_LINE_BYTES
from pump.schema import COMMANDS, max_body_bytes
from test_protocol import MemoryCounter, body, make, reply, signed

PLACEHOLDER = "E" * 120
ESCAPED = b"\\u00e9" * 120  # é 120 times, each a JSON escape (CPython's json.dumps writes it so)


def longest_body(name, args):
    """The command written as CPython's json.dumps writes it (spaces after
    separators, every non-ASCII character escaped), with the highest counter."""
    return body(name, args, ctr=MAX_COUNTER).replace(PLACEHOLDER.encode(), ESCAPED)


def longest_steps(count):
    return [{"start": "23:%02d" % minute, "mcg_per_h": 1999.999} for minute in range(count)]


def accepted_as_sent(name, body_bytes):
    protocol, handler, _, _ = make(counter=MemoryCounter(MAX_COUNTER - 1))
    line = signed(body_bytes) + b"\r"
    assert len(line) <= MAX_LINE_BYTES, (name, len(line), MAX_LINE_BYTES)
    answer = reply(protocol, line)
    return answer["ok"] is True and handler.calls[0][0] == name


def test_the_longest_commands_the_table_allows_fit_in_a_line():
    """Ten steps with three-decimal rates and a 120-character override of
    non-ASCII text (each character a 6-byte escape); the patient with both
    of its texts at their longest. The limit is computed from the table, so
    these pass however the table grows, and it is no looser than it must be."""
    word = PLACEHOLDER
    prescription = longest_body("set_prescription", {"steps": longest_steps(10), "kind": "titration",
                                                    "dilution": False, "override": word})
    patient = longest_body("patient", {"origin": "cerebral", "age_years": 120, "days_since_implant": 36500,
                                       "starting_mcg_per_day": 47999.999, "new_patient": True, "reason": word,
                                       "override": word})
    eight_steps = longest_body("set_prescription", {"steps": longest_steps(8), "override": "o" * 54})
    for name, sent in (("set_prescription", prescription), ("patient", patient), ("set_prescription", eight_steps)):
        assert accepted_as_sent(name, sent)
    longest = max(len(signed(sent)) + 1 for sent in (prescription, patient))
    assert MAX_LINE_BYTES - longest < 16, (MAX_LINE_BYTES, longest)


def test_the_line_limit_follows_the_step_count_of_the_table():
    fields = COMMANDS["set_prescription"][1]
    kind, key, default, limits = fields["steps"]
    ten = max_body_bytes("set_prescription", MAX_COUNTER)
    fields["steps"] = (kind, key, default, (1, 13))
    try:
        thirteen = max_body_bytes("set_prescription", MAX_COUNTER)
    finally:
        fields["steps"] = (kind, key, default, limits)
    step = len(json.dumps(longest_steps(1)[0])) + 2
    assert thirteen - ten == 3 * step
