"""Which stops a person's act lifts: an acknowledgement and the `resume`
command each lift what pump.stops says they may (LIFTED_BY_ACK,
LIFTED_BY_RESUME), and neither an occlusion whose pressure is still up.
Checked through the commands, on a controller stopped for every reason at
once, so what decides it cannot drift from the table unseen."""
# micropython-heap: 384K
# (the controller on the simulated board with the command handlers: 320K passes, 256K does not)
from pump import alarms
from pump.commands import Commands
from pump.stops import (LIFTED_BY_ACK, LIFTED_BY_RESUME, STOP_COMMAND, STOP_CRASHES, STOP_EMPTY, STOP_OCCLUSION,
                        STOP_STALL, STOP_STORAGE)
from test_controller import delivering_pump

EVERY_STOP = STOP_COMMAND | STOP_OCCLUSION | STOP_STALL | STOP_EMPTY | STOP_STORAGE | STOP_CRASHES


def stopped_for_every_reason(occluded):
    """A pump stopped for every reason, its line still occluded or not."""
    _board, ctl = delivering_pump()
    now_s = ctl.now_s()
    if occluded:
        ctl.alarms.raise_(alarms.OCCLUSION, now_s)
    for reason in (STOP_COMMAND, STOP_OCCLUSION, STOP_STALL, STOP_EMPTY, STOP_STORAGE, STOP_CRASHES):
        ctl.stop(reason, now_s)
    assert ctl.stop_mask == EVERY_STOP
    return ctl, Commands(ctl, bytes(32))


def test_an_ack_lifts_a_seen_hazard_and_a_resume_also_what_a_clinician_decides():
    assert LIFTED_BY_ACK == STOP_OCCLUSION | STOP_STALL
    assert LIFTED_BY_RESUME == STOP_OCCLUSION | STOP_STALL | STOP_COMMAND | STOP_CRASHES


def test_each_command_lifts_what_the_table_gives_its_act():
    for command, lifts in (("ack", LIFTED_BY_ACK), ("resume", LIFTED_BY_RESUME)):
        ctl, commands = stopped_for_every_reason(occluded=False)
        commands.execute(command, {}, ctl.now_s())
        assert ctl.stop_mask == EVERY_STOP & ~lifts, command


def test_neither_lifts_an_occlusion_whose_pressure_is_still_up():
    for command, lifts in (("ack", LIFTED_BY_ACK), ("resume", LIFTED_BY_RESUME)):
        ctl, commands = stopped_for_every_reason(occluded=True)
        commands.execute(command, {}, ctl.now_s())
        assert ctl.stop_mask == EVERY_STOP & ~lifts | STOP_OCCLUSION, command
