"""The line limit and the command table agree: the longest command the table
allows fits in a line, and the limit is computed from the table, so it grows
with it (a thirteen-step day, a longer text) instead of refusing what the
table accepts."""
# micropython-heap: 192K
# (test_protocol's module and two weeks of thirteen-step days, as JSON text and parsed)
import json

from pump.protocol import MAX_COUNTER, MAX_LINE_BYTES
from pump.prescription import MAX_STEPS_PER_DAY
from pump.schema import COMMANDS, max_body_bytes
from pump.units import WEEKDAY_NAMES
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


def longest_week():
    return {day: longest_steps(MAX_STEPS_PER_DAY) for day in WEEKDAY_NAMES}


def test_the_longest_commands_the_table_allows_fit_in_a_line():
    """A week of thirteen-step days with three-decimal rates and a
    120-character override of non-ASCII text (each character a 6-byte
    escape); the patient with both of its texts at their longest; the
    weekly flex preview. The limit is computed from the table, so these pass
    however the table grows, and it is no looser than it must be."""
    word = PLACEHOLDER
    prescription = longest_body("set_prescription", {"week": longest_week(), "kind": "titration",
                                                    "dilution": False, "override": word})
    patient = longest_body("patient", {"origin": "cerebral", "age_years": 120, "days_since_implant": 36500,
                                       "starting_mcg_per_day": 47999.999, "new_patient": True, "reason": word,
                                       "override": word})
    plan = longest_body("plan", {"what": "flex_week_preview", "screening_mcg": 99.999, "effect_h": 48, "days": 60,
                                 "hours": 96, "week_effects": longest_week()})
    daily = longest_body("set_prescription", {"steps": longest_steps(MAX_STEPS_PER_DAY), "kind": "titration",
                                             "dilution": False, "override": word})
    for name, sent in (("set_prescription", prescription), ("patient", patient), ("plan", plan),
                       ("set_prescription", daily)):
        assert accepted_as_sent(name, sent)
    longest = max(len(signed(sent)) + 1 for sent in (prescription, patient, plan))
    assert MAX_LINE_BYTES - longest < 16, (MAX_LINE_BYTES, longest)


def test_a_command_gives_one_of_two_alternatives_so_the_limit_counts_the_longer():
    """steps or week, effects or week_effects: both at once is refused, which
    is what lets the limit count only the longer of each pair."""
    both = longest_body("set_prescription", {"steps": longest_steps(1), "week": longest_week()})
    assert not accepted_as_sent("set_prescription", both)
    both = longest_body("plan", {"what": "flex_preview", "effects": longest_steps(1), "week_effects": longest_week()})
    assert not accepted_as_sent("plan", both)


def test_the_line_limit_follows_the_step_count_of_the_table():
    """Three more steps a day make a weekly program 21 steps longer, and the limit with it."""
    fields = COMMANDS["set_prescription"][1]
    kind, key, default, limits = fields["week"]
    now = max_body_bytes("set_prescription", MAX_COUNTER)
    fields["week"] = (kind, key, default, (1, limits[1] + 3))
    try:
        more = max_body_bytes("set_prescription", MAX_COUNTER)
    finally:
        fields["week"] = (kind, key, default, limits)
    step = len(json.dumps(longest_steps(1)[0])) + 2
    assert more - now == 7 * 3 * step
