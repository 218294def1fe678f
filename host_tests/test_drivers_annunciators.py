"""hw.buzzer and hw.lamps play pump.alarms' annunciation data from timers."""
import itertools

import pytest

import fake_machine
from pump import alarms

BUZZER, RED, YELLOW, GREEN = 15, 16, 17, 18


@pytest.fixture
def hw():
    with fake_machine.installed() as world:
        yield world


def buzzer(hw):
    return hw.load("hw.buzzer").Buzzer(hw.machine.PWM(hw.machine.Pin(BUZZER)), tone_hz=2_700)


def lamps(hw):
    Pin = hw.machine.Pin
    return hw.load("hw.lamps").Lamps(Pin(RED, Pin.OUT), Pin(YELLOW, Pin.OUT), Pin(GREEN, Pin.OUT))


def tone_changes_ms(hw, start_us):
    """(ms since start, tone on?) for every change of the buzzer's duty."""
    return [((t - start_us) // 1000, duty > 0) for t, duty in hw.pwms[BUZZER].history if t >= start_us]


def expected_changes_ms(tone_ms, until_ms):
    """Where the pattern says the tone turns on and off, looping."""
    changes, t = [], 0
    for i, ms in zip(itertools.cycle(range(len(tone_ms))), itertools.cycle(tone_ms)):
        if t >= until_ms:
            return changes
        changes.append((t, i % 2 == 0))
        t += ms


@pytest.mark.parametrize("tone_ms", [alarms.TONE_HIGH_MS, alarms.TONE_MEDIUM_MS])
def test_an_alarm_tone_plays_its_pulses_and_loops_after_its_interburst_gap(hw, tone_ms):
    player = buzzer(hw)
    start = hw.now_us
    player.play(tone_ms)
    span_ms = 2 * sum(tone_ms) + 300
    hw.advance_ms(span_ms)
    assert tone_changes_ms(hw, start) == expected_changes_ms(tone_ms, span_ms)
    assert hw.pwms[BUZZER].freq() == 2_700


def test_the_high_priority_burst_has_ten_pulses(hw):
    player = buzzer(hw)
    start = hw.now_us
    player.play(alarms.TONE_HIGH_MS)
    hw.advance_ms(sum(alarms.TONE_HIGH_MS) - 1)
    assert sum(1 for _ms, on in tone_changes_ms(hw, start) if on) == 10


@pytest.mark.parametrize("silence", [alarms.TONE_NONE_MS, None])
def test_an_empty_pattern_is_silence(hw, silence):
    player = buzzer(hw)
    player.play(alarms.TONE_MEDIUM_MS)
    hw.advance_ms(100)
    player.play(silence)
    hw.advance_ms(10_000)
    assert hw.pwms[BUZZER].duty_u16() == 0 and not player.playing


def test_playing_the_pattern_already_playing_does_not_restart_the_burst(hw):
    player = buzzer(hw)
    start = hw.now_us
    player.play(alarms.TONE_MEDIUM_MS)
    hw.advance_ms(250)
    player.play(tuple(alarms.TONE_MEDIUM_MS))   # equal data, as a new tuple
    hw.advance_ms(200)
    assert tone_changes_ms(hw, start) == [(0, True), (200, False), (400, True)]


def test_a_different_pattern_restarts_from_its_first_pulse(hw):
    player = buzzer(hw)
    player.play(alarms.TONE_MEDIUM_MS)
    hw.advance_ms(250)
    start = hw.now_us
    player.play(alarms.TONE_HIGH_MS)
    hw.advance_ms(300)
    assert tone_changes_ms(hw, start) == [(0, True), (150, False), (250, True)]


def test_stop_silences_at_once_and_for_good(hw):
    player = buzzer(hw)
    player.play(alarms.TONE_HIGH_MS)
    hw.advance_ms(50)
    player.stop()
    stopped = hw.now_us
    hw.advance_ms(10_000)
    assert hw.pwms[BUZZER].duty_u16() == 0
    assert tone_changes_ms(hw, stopped + 1) == []


@pytest.mark.parametrize("reminder_ms", [alarms.REMIND_HIGH_MS, alarms.REMIND_MEDIUM_MS])
def test_a_reminder_plays_its_burst_once_then_falls_silent(hw, reminder_ms):
    player = buzzer(hw)
    start = hw.now_us
    player.play(reminder_ms)
    hw.advance_ms(sum(reminder_ms) - 1)
    assert player.playing
    assert tone_changes_ms(hw, start) == expected_changes_ms(reminder_ms, sum(reminder_ms))
    hw.advance_ms(60_000)
    assert hw.pwms[BUZZER].duty_u16() == 0 and not player.playing
    assert tone_changes_ms(hw, start)[-1] == (sum(reminder_ms), False)


def test_a_reminder_handed_over_again_is_not_played_again(hw):
    player = buzzer(hw)
    player.play(alarms.REMIND_MEDIUM_MS)
    hw.advance_ms(5_000)
    played_out = hw.now_us
    player.play(alarms.REMIND_MEDIUM_MS)   # the next wake-up within the reminder's hold
    hw.advance_ms(5_000)
    assert tone_changes_ms(hw, played_out) == []
    player.play(alarms.TONE_NONE_MS)
    player.play(alarms.REMIND_MEDIUM_MS)   # the next reminder, after silence
    hw.advance_ms(100)
    assert hw.pwms[BUZZER].duty_u16() > 0


@pytest.mark.parametrize("tone_ms", [(100, -1), (0, 0), (0,)])
def test_malformed_tone_patterns_are_refused(hw, tone_ms):
    with pytest.raises(ValueError):
        buzzer(hw).play(tone_ms)


def test_the_lamp_colours_are_wired_in_pump_alarms_order(hw):
    assert (alarms.LAMP_RED, alarms.LAMP_YELLOW, alarms.LAMP_GREEN) == (0, 1, 2)


@pytest.mark.parametrize("lamp, lit", [(alarms.LAMPS[0], GREEN), (alarms.LAMPS[1], YELLOW)])
def test_a_steady_lamp_lights_only_that_lamp(hw, lamp, lit):
    panel = lamps(hw)
    panel.show(lamp)
    hw.advance_ms(5_000)
    assert [hw.pin(p).value() for p in (RED, YELLOW, GREEN)] == [int(p == lit) for p in (RED, YELLOW, GREEN)]
    assert not panel.flashing


def test_the_high_priority_lamp_flashes_red_on_its_on_and_off_times(hw):
    panel = lamps(hw)
    start = hw.now_us
    panel.show(alarms.LAMPS[3])            # red, 250 ms on, 250 ms off
    hw.advance_ms(1_100)
    changes = [((t - start) // 1000, level) for t, level in hw.pin(RED).history if t >= start]
    assert changes == [(0, 1), (250, 0), (500, 1), (750, 0), (1_000, 1)]
    assert hw.pin(YELLOW).value() == 0 and hw.pin(GREEN).value() == 0


def test_an_uneven_flash_keeps_its_own_on_and_off_times(hw):
    panel = lamps(hw)
    start = hw.now_us
    panel.show((alarms.LAMP_YELLOW, 300, 700))
    hw.advance_ms(2_100)
    changes = [((t - start) // 1000, level) for t, level in hw.pin(YELLOW).history if t >= start]
    assert changes == [(0, 1), (300, 0), (1_000, 1), (1_300, 0), (2_000, 1)]


def test_showing_another_lamp_darkens_the_first_and_stops_its_flash(hw):
    panel = lamps(hw)
    panel.show(alarms.LAMPS[3])
    hw.advance_ms(100)
    panel.show(alarms.LAMPS[1])
    hw.advance_ms(2_000)
    assert [hw.pin(p).value() for p in (RED, YELLOW, GREEN)] == [0, 1, 0]


def test_show_none_darkens_every_lamp(hw):
    panel = lamps(hw)
    panel.show(alarms.LAMPS[2])
    panel.show(None)
    hw.advance_ms(3_000)
    assert [hw.pin(p).value() for p in (RED, YELLOW, GREEN)] == [0, 0, 0]


def test_repeating_the_shown_pattern_keeps_the_flash_phase(hw):
    panel = lamps(hw)
    start = hw.now_us
    panel.show(alarms.LAMPS[3])
    hw.advance_ms(150)
    panel.show(tuple(alarms.LAMPS[3]))
    hw.advance_ms(400)
    assert [(t - start) // 1000 for t, _ in hw.pin(RED).history if t >= start] == [0, 250, 500]


@pytest.mark.parametrize("lamp", [(3, 100, 0), (-1, 100, 0), (0, 0, 100), (0, 100, -1)])
def test_unknown_colours_and_bad_times_are_refused(hw, lamp):
    with pytest.raises(ValueError):
        lamps(hw).show(lamp)
