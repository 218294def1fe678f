"""Delivery: step times are exact against the ideal, with small ints only."""
from pump.delivery import Pacer, ideal_fraction, segment_den, segment_num, NEVER
from pump.units import MS_PER_DAY
from array import array

SMALL_INT_LIMIT = 1 << 30  # RP2040 small ints are 31-bit signed

try:
    import micropython
    heap_lock, heap_unlock = micropython.heap_lock, micropython.heap_unlock
except (ImportError, AttributeError):  # CPython: no heap to lock
    def heap_lock():
        pass
    heap_unlock = heap_lock


def walk_segment(carry, num, den, length_ms):
    """All step times of a segment, as the pacer emits them."""
    pacer = Pacer()
    pacer.start(carry, num, den, length_ms)
    times = []
    while pacer.next_ms != NEVER:
        times.append(pacer.next_ms)
        pacer.take()
    return times


def count_and_check_segment(carry, num, den, length_ms):
    """Walks a segment without keeping its times (an RP2040 heap is small),
    checking each one against the closed form; returns the step count."""
    pacer = Pacer()
    pacer.start(carry, num, den, length_ms)
    k = 0
    while pacer.next_ms != NEVER:
        k += 1
        assert pacer.next_ms == (k * den - carry + num - 1) // num
        pacer.take()
    return k


def brute_force_times(carry, num, den, length_ms, limit):
    """Step k is due at the first ms t with carry + num*t >= k*den."""
    times, k = [], 1
    while len(times) < limit:
        t = (k * den - carry + num - 1) // num
        if t > length_ms:
            break
        times.append(max(t, 0))
        k += 1
    return times


def test_steps_fall_on_the_first_ms_the_ideal_reaches_each_whole_step():
    # 30 mcg/h at 500 mcg/mL, nominal calibration, one hour
    num, den = segment_num(30_000, 12_732), segment_den(500)
    assert walk_segment(0, num, den, 3_600_000) == brute_force_times(0, num, den, 3_600_000, 10_000)


def test_step_count_of_a_segment_is_the_floor_of_the_ideal():
    for rate_ng_h, conc, steps_per_ml, carry_fraction in (
            (500, 2000, 12_732, 0), (2_000_000, 2000, 12_732, 3), (83_458, 50, 12_733, 7),
            (1_234_567, 1_999, 16_001, 1)):
        num, den = segment_num(rate_ng_h, steps_per_ml), segment_den(conc)
        carry = den * carry_fraction // 10
        count = count_and_check_segment(carry, num, den, 7_200_000)
        whole, _ = ideal_fraction(carry, num, 7_200_000, den)
        assert count == whole, (rate_ng_h, conc, count, whole)


def test_a_step_due_exactly_at_the_segment_end_belongs_to_that_segment():
    # 1 step per 1000 ms exactly: the 5th step is due at 5000 ms
    times = walk_segment(0, 1, 1000, 5000)
    assert times[-1] == 5000 and len(times) == 5
    whole, carry = ideal_fraction(0, 1, 5000, 1000)
    assert (whole, carry) == (5, 0)


def test_splitting_a_day_into_segments_loses_and_adds_nothing():
    num, den = segment_num(20_833, 12_732), segment_den(2000)
    whole_day = walk_segment(0, num, den, MS_PER_DAY)
    carry, t0, joined = 0, 0, []
    for end in (1, 7_000_000, 25_200_001, 43_200_000, MS_PER_DAY):
        joined.extend(t0 + t for t in walk_segment(carry, num, den, end - t0))
        _, carry = ideal_fraction(carry, num, end - t0, den)
        t0 = end
    assert joined == whole_day


def test_every_integer_the_step_path_keeps_stays_below_2_to_the_30():
    # the extremes: 1 mL/h at 2000 mcg/mL, and the lowest dose at 2000 mcg/mL
    for rate_ng_h in (2_000_000, 500):
        pacer = Pacer()
        pacer.start(0, segment_num(rate_ng_h, 32_000), segment_den(2000), MS_PER_DAY)
        for _ in range(2000):
            for value in pacer.__dict__.values():
                assert -SMALL_INT_LIMIT <= value < SMALL_INT_LIMIT
            if pacer.next_ms == NEVER:
                break
            pacer.take()


def test_filling_a_batch_allocates_nothing():
    pacer = Pacer()
    pacer.start(0, segment_num(2_000_000, 12_732), segment_den(2000), MS_PER_DAY)
    offsets = array("I", [0] * 16)
    heap_lock()
    try:
        total = 0
        for _ in range(200):
            now = pacer.next_ms
            total += pacer.fill(offsets, 16, now, now + 60_000)
    finally:
        heap_unlock()
    assert total == 3200


def test_fill_writes_offsets_from_the_wake_time():
    pacer = Pacer()
    pacer.start(0, 1, 1000, 10_000)  # a step every 1000 ms
    offsets = array("I", [0] * 8)
    n = pacer.fill(offsets, 8, 2500, 5000)
    assert n == 5 and list(offsets[:n]) == [0, 0, 500, 1500, 2500]  # 1000 and 2000 were late
