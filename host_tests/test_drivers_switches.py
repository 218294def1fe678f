"""hw.switches: the debounced ACK/SILENCE button and the limit switches."""
import pytest

import fake_machine

ACK, END = 20, 6


@pytest.fixture
def hw():
    with fake_machine.installed() as world:
        yield world


def ack_button(hw, settle_ms=30):
    Pin = hw.machine.Pin
    return hw.load("hw.switches").DebouncedButton(Pin(ACK, Pin.IN, Pin.PULL_UP), settle_ms)


def bounce(hw, levels, every_ms=1):
    for level in levels:
        hw.drive(ACK, level)
        hw.advance_ms(every_ms)


def test_an_idle_button_reads_released(hw):
    button = ack_button(hw)
    hw.advance_ms(100)
    assert not button.pressed()


def test_a_clean_press_counts_once(hw):
    button = ack_button(hw)
    bounce(hw, [0], every_ms=100)
    assert button.pressed()
    assert not button.pressed()


def test_a_press_that_bounces_on_both_edges_counts_once(hw):
    button = ack_button(hw)
    bounce(hw, [0, 1, 0, 1, 0, 1, 0])          # press, bouncing for 6 ms
    hw.advance_ms(200)
    bounce(hw, [1, 0, 1, 0, 1, 0, 1])          # release, bouncing
    hw.advance_ms(200)
    assert [button.pressed(), button.pressed()] == [True, False]


def test_a_glitch_shorter_than_the_settle_time_is_not_a_press(hw):
    button = ack_button(hw)
    bounce(hw, [0, 1], every_ms=5)
    hw.advance_ms(100)
    assert not button.pressed()


def test_a_press_released_before_the_loop_looks_is_still_latched(hw):
    button = ack_button(hw)
    bounce(hw, [0, 1], every_ms=150)
    hw.advance_ms(5_000)
    assert button.pressed()


def test_two_presses_count_twice(hw):
    button = ack_button(hw)
    bounce(hw, [0, 1, 0, 1], every_ms=100)
    assert [button.pressed(), button.pressed(), button.pressed()] == [True, True, False]


def test_press_waiting_looks_without_taking_the_press(hw):
    button = ack_button(hw)
    bounce(hw, [0], every_ms=100)
    assert button.press_waiting() and button.press_waiting()
    assert button.pressed()
    assert not button.press_waiting()


def test_a_normally_closed_limit_switch_is_active_when_its_contact_opens(hw):
    Pin = hw.machine.Pin
    hw.drive(END, 0)  # the contact closed to ground: away from the end
    switch = hw.load("hw.switches").LimitSwitch(Pin(END, Pin.IN, Pin.PULL_UP))
    assert not switch.active()
    hw.drive(END, 1)  # the contact opens at the end
    assert switch.active()


def test_a_broken_switch_wire_reads_as_at_the_end(hw):
    """Nothing on the pin but the pull-up: the motor must stop there."""
    Pin = hw.machine.Pin
    switch = hw.load("hw.switches").LimitSwitch(Pin(END, Pin.IN, Pin.PULL_UP))
    assert switch.active()


def test_a_limit_switch_calls_its_hook_when_the_plunger_reaches_it(hw):
    Pin = hw.machine.Pin
    hw.drive(END, 0)
    switch = hw.load("hw.switches").LimitSwitch(Pin(END, Pin.IN, Pin.PULL_UP))
    reached = []
    switch.on_reached(lambda: reached.append(hw.now_us))
    hw.advance_ms(3)
    hw.drive(END, 1)
    hw.advance_ms(3)
    hw.drive(END, 0)
    assert len(reached) == 1
