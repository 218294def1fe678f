"""Rate -> motor step times, exact, in integers that stay below 2**30.

The ideal cumulative delivery of a segment of constant rate is

    ideal_steps(t) = (carry + num * t) / den            t in ms from segment start

with num = rate_ng_per_h * steps_per_ml and den = concentration_ng_per_ul *
3_600_000_000 (ng/h over ng/uL is uL/h; times steps per uL; over ms per hour),
and `carry` the drug already owed when the segment began, in the same units
(below den: less than a step; below 0: a debt, steps that went out ahead,
which delays the first step; see pump.controller). Step k is due at the first whole ms where the ideal
reaches k:  t_k = ceil((k * den - carry) / num).  Emitting every step at t_k
makes the commanded count equal floor(ideal) at every ms: commanded never
exceeds the ideal and never lags it by a whole step, over any run length,
with no drift (the ideal is never rounded, only the time grid is).

num reaches about 2**35 (1 mL/h at 2000 mcg/mL is 2e6 ng/h, times ~13 000
steps/mL), too big for an RP2040 small int, so the pacer walks the step times
with a Bresenham recurrence whose remainder is kept in two 28-bit limbs:
t_{k+1} = t_k + q + (1 if the remainder wraps), q = den // num. The walk
allocates nothing; only `start` (once per segment: a flex-step boundary,
midnight, a bolus, a refill, a restart) works with big integers, and it runs
a few times a day, not per step.
"""
from pump.compat import const

LIMB_BITS = const(28)
LIMB = const(1 << 28)
LIMB_MASK = const((1 << 28) - 1)
NEVER = const((1 << 30) - 1)  # "no step in this segment"; a day is 86_400_000 ms
DEN_PER_NG_PER_UL = const(3_600_000_000)  # 1000 uL per mL times 3_600_000 ms per hour


def segment_den(concentration_ng_per_ul):
    """The denominator of step fractions at a concentration (see module doc)."""
    return concentration_ng_per_ul * DEN_PER_NG_PER_UL


def segment_num(rate_ng_per_h, steps_per_ml):
    return rate_ng_per_h * steps_per_ml


def bolus_plan(bolus_ng, steps_per_ml, duration_ms):
    """How a bolus rides on the basal rate: (num, lump).

    In segment units the bolus is bolus_ng * steps_per_ml * 3_600_000 (the
    concentration cancels); it adds `num` per ms for `duration_ms` whole
    ms, and the remainder `lump`, less than one ms of it, is owed at the
    end. So the bolus is delivered exactly, never more.
    """
    total = bolus_ng * steps_per_ml * 3_600_000
    num = total // duration_ms
    return num, total - num * duration_ms


def bolus_min_ms(bolus_ng, concentration_ng_per_ul, bolus_rate_nl_per_h):
    """The shortest time the mechanism gives a bolus in: its volume at the
    calibrated bolus rate."""
    return -(-bolus_ng * 1000 * 3_600_000 // (concentration_ng_per_ul * bolus_rate_nl_per_h))


def ideal_fraction(carry, num, elapsed_ms, den):
    """(whole steps, new carry) owed after `elapsed_ms` of a segment."""
    total = carry + num * elapsed_ms
    return total // den, total % den


class Pacer:
    """Step times of one constant-rate segment.

    `next_ms` is the time of the next step relative to the segment start,
    `count` the steps taken so far in the segment. Both, and every field,
    stay below 2**30 (asserted by the host tests over the whole rate range).
    """

    def __init__(self):
        self.count = 0
        self.next_ms = NEVER
        self.length_ms = 0
        self._q = 0
        self._rem_hi = self._rem_lo = 0
        self._num_hi = self._num_lo = 0
        self._err_hi = self._err_lo = 0

    def start(self, carry, num, den, length_ms):
        """Begin a segment of `length_ms` at rate num/den steps per ms."""
        self.count = 0
        self.length_ms = length_ms
        if num <= 0:
            self.next_ms = NEVER
            return
        # t_1 = ceil((den - carry) / num); write x + num - 1 = t * num + err.
        first, err = divmod(den - carry + num - 1, num)
        self.next_ms = first if first <= length_ms else NEVER
        q, rem = divmod(den, num)
        # A gap longer than the segment means no further step in it; clamping
        # keeps next_ms + q a small int (a segment is at most a day of ms).
        self._q = q if q <= length_ms else length_ms + 1
        self._rem_hi, self._rem_lo = rem >> LIMB_BITS, rem & LIMB_MASK
        self._num_hi, self._num_lo = num >> LIMB_BITS, num & LIMB_MASK
        self._err_hi, self._err_lo = err >> LIMB_BITS, err & LIMB_MASK

    def take(self):
        """Count the step due at `next_ms` and move to the following one.

        The hot path: integer adds and compares on small ints, no allocation.
        """
        self.count += 1
        lo = self._err_lo + self._rem_lo
        hi = self._err_hi + self._rem_hi
        if lo >= LIMB:
            lo -= LIMB
            hi += 1
        step = self._q
        if hi > self._num_hi or (hi == self._num_hi and lo >= self._num_lo):
            lo -= self._num_lo
            hi -= self._num_hi
            if lo < 0:
                lo += LIMB
                hi -= 1
            step += 1
        self._err_hi = hi
        self._err_lo = lo
        nxt = self.next_ms + step
        self.next_ms = nxt if nxt <= self.length_ms else NEVER

    def fill(self, offsets_ms, capacity, from_ms, until_ms, max_gap_ms=NEVER):
        """Write the relative times of steps in (from_ms, until_ms] into
        `offsets_ms` (a preallocated array), at most `capacity` of them,
        as offsets from `from_ms`, stopping before a step more than
        `max_gap_ms` after the one before it (or after from_ms). Returns how
        many were written.

        A step due exactly at `from_ms` or earlier is written with offset 0:
        it is late (the shell woke late) and goes out at once.
        """
        n = 0
        last = from_ms
        while n < capacity and self.next_ms <= until_ms and self.next_ms - last <= max_gap_ms:
            last = self.next_ms
            due = last - from_ms
            offsets_ms[n] = due if due > 0 else 0
            n += 1
            self.take()
        return n
