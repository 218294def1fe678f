"""hw.ds3231 (registers, BCD, calendar, missing device) and hw.wallclock (ms from seconds + ticks)."""
import datetime

import pytest
from hypothesis import given, settings, strategies as st

import fake_devices
import fake_machine

START = datetime.datetime(2026, 3, 2, 8, 0, 0)
EPOCH = datetime.datetime(2000, 1, 1)


@pytest.fixture
def hw():
    with fake_machine.installed() as world:
        yield world


def attach_rtc(hw, start=START, **kwargs):
    device = fake_devices.FakeDS3231(hw, start, **kwargs)
    hw.i2c_devices[0x68] = device
    return device


def i2c(hw):
    return hw.machine.I2C(0, sda=hw.machine.Pin(8), scl=hw.machine.Pin(9), freq=400_000)


def ds3231(hw):
    return hw.load("hw.ds3231").DS3231(i2c(hw))


def read_s(rtc):
    rtc.read()
    return rtc.day * 86_400 + rtc.second


def write_s(rtc, seconds):
    rtc.write(*divmod(seconds, 86_400))


def wallclock(hw, rtc):
    return hw.load("hw.wallclock").WallClock(rtc)


def as_day_ms(when):
    delta = when - EPOCH
    return delta.days, delta.seconds * 1000 + delta.microseconds // 1000


@given(st.dates(datetime.date(2000, 1, 1), datetime.date(2199, 12, 31)))
def test_day_count_matches_the_gregorian_calendar(date):
    with fake_machine.installed() as hw:
        module = hw.load("hw.ds3231")
        days = (date - EPOCH.date()).days
        assert module.days_from_date(date.year, date.month, date.day) == days
        assert module.date_from_days(days) == (date.year, date.month, date.day)


@pytest.mark.parametrize("when", [
    datetime.datetime(2000, 1, 1, 0, 0, 0),
    START,
    datetime.datetime(2028, 2, 29, 23, 59, 59),
    datetime.datetime(2099, 12, 31, 12, 34, 56),
    datetime.datetime(2105, 7, 4, 1, 2, 3),     # century bit set
])
def test_bcd_registers_decode_to_seconds_since_2000(hw, when):
    attach_rtc(hw, when)
    assert read_s(ds3231(hw)) == fake_devices.seconds_since_2000(when)


@pytest.mark.parametrize("hour", [0, 1, 11, 12, 13, 23])
def test_twelve_hour_mode_registers_decode_to_the_right_hour(hw, hour):
    when = datetime.datetime(2026, 3, 2, hour, 15, 9)
    attach_rtc(hw, when, twelve_hour=True)
    assert read_s(ds3231(hw)) == fake_devices.seconds_since_2000(when)


def test_a_missing_ds3231_is_a_clock_fault_at_start_up(hw):
    faults = hw.load("hw.faults")
    with pytest.raises(faults.StartupFault) as raised:
        ds3231(hw)
    assert raised.value.kind == "clock_fault"
    assert "0x68" in raised.value.detail


def test_a_device_that_is_not_a_ds3231_is_refused(hw):
    device = attach_rtc(hw)
    device.read = lambda register, count: bytes([0xFF] * count)   # e.g. another part at 0x68
    faults = hw.load("hw.faults")
    with pytest.raises(faults.StartupFault) as raised:
        ds3231(hw)
    assert "not a DS3231" in raised.value.detail


def test_write_sets_the_time_in_24_hour_mode_and_clears_the_oscillator_stop_flag(hw):
    device = attach_rtc(hw, oscillator_stopped=True)
    rtc = ds3231(hw)
    assert rtc.oscillator_stopped
    when = datetime.datetime(2031, 12, 31, 21, 45, 30)
    write_s(rtc, fake_devices.seconds_since_2000(when))
    assert device.now() == when
    assert device.regs[2] & 0x40 == 0
    assert device.regs[0x0F] & 0x80 == 0
    assert read_s(rtc) == fake_devices.seconds_since_2000(when) and not rtc.oscillator_stopped


def test_write_stores_the_weekday_monday_first(hw):
    device = attach_rtc(hw)
    rtc = ds3231(hw)
    saturday = datetime.datetime(2000, 1, 1)
    write_s(rtc, 0)
    assert device.regs[3] == saturday.isoweekday() == 6


def chip_day_ms(device):
    """The chip's own continuous time, as (day, ms of day)."""
    return divmod(device.base_s * 1000 + device.true_us() // 1000, 86_400_000)


def test_now_adds_the_ms_the_ticks_count_within_the_rtc_second(hw):
    device = attach_rtc(hw)
    clock = wallclock(hw, ds3231(hw))
    hw.advance_ms(1_234)
    day, ms = clock.now()
    chip_day, chip_ms = chip_day_ms(device)
    assert day == chip_day and 0 <= chip_ms - ms <= 2   # the boot found the chip's phase
    assert clock.valid()


def test_the_sub_second_phase_is_found_at_boot(hw):
    device = attach_rtc(hw, phase_ms=400)   # the clock starts 400 ms into an RTC second
    clock = wallclock(hw, ds3231(hw))
    for _ in range(12):
        hw.advance_ms(100)
        day, ms = clock.now()
        assert 0 <= chip_day_ms(device)[1] - ms <= 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 4_000), min_size=5, max_size=60), st.sampled_from([-100, 0, 100]))
def test_the_clock_never_runs_backwards_and_stays_within_a_second_of_the_rtc(steps_ms, drift_ppm):
    """(Behind the chip's second by a few ms at most: a correction forward is
    slewed, hw.wallclock.)"""
    with fake_machine.installed() as hw:
        device = attach_rtc(hw, drift_ppm=drift_ppm)
        clock = wallclock(hw, ds3231(hw))
        last = clock.now()
        for step in steps_ms:
            hw.advance_ms(step)
            now = clock.now()
            assert now >= last
            rtc_ms = fake_devices.seconds_since_2000(device.now()) * 1000
            assert -10 <= now[0] * 86_400_000 + now[1] - rtc_ms < 1000
            last = now


def test_the_clock_keeps_counting_across_the_ticks_wrap():
    with fake_machine.installed(start_ms=fake_machine.TICKS_PERIOD - 30_000) as hw:
        device = attach_rtc(hw)
        clock = wallclock(hw, ds3231(hw))
        for _ in range(20):   # 60 s, across the 2**30 ms wrap
            hw.advance_ms(3_000)
            clock.now()
        day, ms = clock.now()
        chip_day, chip_ms = chip_day_ms(device)
        assert day == chip_day and 0 <= chip_ms - ms <= 2


def test_when_the_rtc_stops_answering_time_runs_on_from_ticks_and_is_not_valid(hw):
    device = attach_rtc(hw)
    clock = wallclock(hw, ds3231(hw))
    device.failing = True
    hw.advance_ms(5_500)
    day, ms = clock.now()
    assert day == chip_day_ms(device)[0] and 0 <= chip_day_ms(device)[1] - ms <= 2
    assert not clock.valid()
    device.failing = False
    hw.advance_ms(500)
    day, ms = clock.now()
    assert day == chip_day_ms(device)[0] and 0 <= chip_day_ms(device)[1] - ms <= 2
    assert clock.valid()


def test_a_stopped_oscillator_makes_the_clock_invalid_until_it_is_set(hw):
    attach_rtc(hw, oscillator_stopped=True)
    clock = wallclock(hw, ds3231(hw))
    clock.now()
    assert not clock.valid()
    clock.set(9_000, 0)
    assert clock.valid()


def test_set_waits_for_the_next_whole_second_so_the_ms_are_exact(hw):
    device = attach_rtc(hw)
    clock = wallclock(hw, ds3231(hw))
    clock.set(9_500, 12_345_678)
    assert clock.now() == (9_500, 12_346_000)
    hw.advance_ms(2_500)
    day, ms = clock.now()
    assert day == 9_500 and abs(ms - 12_348_500) <= 1  # the bus time of the reads, ticks in whole ms
    assert fake_devices.seconds_since_2000(device.now()) == 9_500 * 86_400 + 12_348


def test_without_a_chip_the_clock_counts_from_day_zero_and_is_never_valid(hw):
    clock = wallclock(hw, None)
    hw.advance_ms(86_400_000 + 5)
    assert clock.now() == (1, 5)
    assert not clock.valid()
