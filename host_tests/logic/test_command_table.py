"""The command handlers' table (pump.commands) against the command vocabulary (pump.schema).

Runs on CPython and on the MicroPython unix port.
"""
# importing pump.commands takes about 133 KB; the test runner's own share does not fit beside it in 160K
# micropython-heap: 192K
from pump.commands import Commands
from pump.schema import AUTH_COMMAND, COMMANDS


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
