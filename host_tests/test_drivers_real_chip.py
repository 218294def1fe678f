"""What a real DS3231, a real flash and a real watchdog do to the board's timing.

On the fake machine, with the fakes as imperfect as the chips: the DS3231
has an unknown sub-second phase and drifts, I2C transactions take their bus
time. Each test fails on the board code that ignored this:
- the wall clock finds the DS3231's second edge at boot and never jumps
  forward (a schedule restarted on a lagging clock then delivers ahead of
  real time);
- the board's sleep lasts as long as the controller asked, feeding the
  watchdog between slices, with no controller work in them;
- step pulses are timed from the clock reading they were planned for, not
  from when they were handed over after a flash write.
"""
import datetime
from array import array

from hypothesis import given, settings, strategies as st

import fake_devices
import fake_machine
from hw.watchdog import MARGIN_MS, TIMEOUT_MS
from test_drivers_board import rig  # noqa: F401 (fixture)

START = datetime.datetime(2026, 3, 2, 8, 0, 0)
STEP, DIR, EN, DIAG = 2, 3, 4, 5


def attach_rtc(hw, **kwargs):
    device = fake_devices.FakeDS3231(hw, START, **kwargs)
    hw.i2c_devices[0x68] = device
    return device


def wallclock(hw):
    i2c = hw.machine.I2C(0, sda=hw.machine.Pin(8), scl=hw.machine.Pin(9), freq=400_000)
    rtc = hw.load("hw.ds3231").DS3231(i2c)
    return hw.load("hw.wallclock").WallClock(rtc)


def clock_ms(now):
    day, ms = now
    return day * 86_400_000 + ms


def chip_ms(device):
    """The chip's own continuous time (what its seconds are the floor of)."""
    return device.base_s * 1000 + device.true_us() // 1000


def test_the_boot_finds_the_chip_s_second_edge_so_the_clock_starts_within_a_few_ms():
    with fake_machine.installed() as hw:
        device = attach_rtc(hw, phase_ms=600)   # its second began 600 ms before boot
        clock = wallclock(hw)
        lag = chip_ms(device) - clock_ms(clock.now())
        assert 0 <= lag <= 3, lag            # was up to a second
        assert clock.phase_found


@settings(max_examples=30, deadline=None)
@given(phase_ms=st.integers(0, 999), drift_ppm=st.integers(-50, 50),
       steps_ms=st.lists(st.integers(1, 6_000), min_size=20, max_size=120))
def test_the_clock_is_never_ahead_of_the_chip_and_never_jumps_forward(phase_ms, drift_ppm, steps_ms):
    """Read at the board's wake-up intervals, the clock never reads past the
    chip's own time by more than the ticks drifted from it since boot (it
    learns the chip's phase only where a read sees a second begin), and
    between two readings it never advances more than the ticks did plus the
    slew (1 ms in 512): a correction is never a jump that a schedule would
    catch up at once."""
    with fake_machine.installed() as hw:
        device = attach_rtc(hw, phase_ms=phase_ms, drift_ppm=drift_ppm)
        clock = wallclock(hw)
        boot_us = hw.now_us
        last, last_us = clock_ms(clock.now()), hw.now_us
        for step in steps_ms:
            hw.advance_ms(step)
            now = clock_ms(clock.now())
            ticks_ms = (hw.now_us - last_us) // 1000 + 1
            drifted_ms = (hw.now_us - boot_us) * abs(drift_ppm) // 10 ** 9 + 1
            assert now <= chip_ms(device) + drifted_ms, (now, chip_ms(device))
            assert last <= now <= last + ticks_ms + ticks_ms // 512 + 1, (last, now, ticks_ms)
            last, last_us = now, hw.now_us


def test_a_chip_that_never_ticks_does_not_hang_the_boot():
    with fake_machine.installed() as hw:
        device = attach_rtc(hw)
        device.drift_ppm = -1_000_000   # stopped: its seconds never change
        start = hw.now_us
        clock = wallclock(hw)
        assert not clock.phase_found
        assert (hw.now_us - start) // 1000 <= 1_600


def test_a_long_sleep_is_cut_by_watchdog_feeds_only(rig):  # noqa: F811
    """The controller asks for a minute; the board sleeps a minute, waking
    every max_sleep_ms only to feed the watchdog: no I2C (no clock or
    sensor reading), which is what a controller pass would do."""
    board = rig.boot()
    board.watchdog.feed()
    reads = []
    device = rig.rtc
    original = device.read
    device.read = lambda register, count: reads.append(register) or original(register, count)
    start = rig.hw.now_us
    board.sleep_until(60_000)
    slept_ms = (rig.hw.now_us - start) // 1000
    assert slept_ms >= 60_000                      # was one watchdog slice, 6 s
    assert reads == []
    assert rig.hw.wdt.longest_gap_ms() <= TIMEOUT_MS - MARGIN_MS
    assert board.wakes == 10


def test_pulses_are_timed_from_the_clock_reading_not_from_the_hand_off():
    """The controller plans offsets from its clock reading; a flash write
    (30 ms here) comes before the hand-off. The edges still fall at reading
    + offset; one already due goes out at once."""
    with fake_machine.installed() as hw:
        attach_rtc(hw)
        clock = wallclock(hw)
        Pin = hw.machine.Pin
        stepper = hw.load("hw.stepper").Stepper(0, Pin(STEP), Pin(DIR, Pin.OUT, value=0),
                                               Pin(EN, Pin.OUT, value=1), Pin(DIAG, Pin.IN, Pin.PULL_DOWN))
        stepper.clock = clock
        clock.now()
        read_us = hw.now_us
        hw.advance_ms(30)                          # the state record is written first
        stepper.pulse(array("I", [10, 50, 120]), 3)
        hw.advance_ms(500)
        edges_ms = [(t - read_us) / 1000 for t in hw.pin(STEP).rising_edges_us() if t >= read_us]
        assert edges_ms[0] <= 30.5                 # was due at 10: late, so at once
        assert [round(t) for t in edges_ms[1:]] == [50, 120]   # were 80 and 150
