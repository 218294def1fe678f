"""The command handlers' table (pump.commands) against the command vocabulary
(pump.schema), and the event log's codes for the commands (pump.events).

Runs on CPython and on the MicroPython unix port.
"""
# importing pump.commands takes about 133 KB; the test runner's own share does not fit beside it in 160K
# micropython-heap: 192K
from pump import events
from pump.commands import _COMMAND_CODES, Commands
from pump.schema import AUTH_COMMAND, COMMANDS

# The command codes of event logs already written to flash (1 + index):
# these never move, whatever is added after them.
LOGGED_COMMAND_CODES = ("status", "prescription", "reservoir", "alarms", "log", "version", "plan", "patient",
                        "set_prescription", "refill", "bolus", "stop", "resume", "ack", "silence", "settings",
                        "set_clock", "bench", "selftest", "card", "prime", "bridge")


def test_every_command_of_the_schema_has_a_handler_and_no_handler_is_left_over():
    handled = sorted(Commands.HANDLERS)
    expected = sorted(name for name in COMMANDS if name != AUTH_COMMAND)
    assert handled == expected, (handled, expected)


def test_auth_is_answered_by_the_protocol_not_a_handler():
    assert AUTH_COMMAND in COMMANDS
    assert AUTH_COMMAND not in Commands.HANDLERS


def test_each_command_is_handled_by_the_method_of_its_name():
    for name, handler in Commands.HANDLERS.items():
        assert handler is getattr(Commands, "_" + name), name


def test_no_command_code_of_the_event_log_moves():
    assert events.COMMAND_NAMES[:len(LOGGED_COMMAND_CODES)] == LOGGED_COMMAND_CODES


def test_each_handled_command_is_logged_under_a_code_that_reads_back_as_its_name():
    for name in Commands.HANDLERS:
        assert events.describe(events.COMMAND, _COMMAND_CODES[name], 0) == name, name
