"""Reservoir accounting that never overestimates what is left.

The estimate is kept in motor steps so that the check made at every wake-up
is a compare of two small ints. Whenever a volume becomes steps it is
rounded down (fewer steps available than the volume would give), and every
step commanded is counted as used the moment it is queued, before the motor
moves; after a reset the steps that were only authorised are counted as used
too (see controller). So the estimate can only be below the truth, which is
what makes the low-reservoir warning early rather than late: an abrupt stop
of intrathecal baclofen is dangerous (withdrawal), so the refill visit must
come before the pump runs dry.
"""
from pump.units import NL_PER_ML


class Reservoir:
    def __init__(self, capacity_nl, steps_per_ml):
        self.capacity_nl = capacity_nl
        self.steps_per_ml = steps_per_ml
        self.concentration_ng_per_ul = 0
        self.fill_nl = 0          # estimated volume at the last refill
        self.fill_steps = 0       # the same, in whole steps, rounded down
        self.used_steps = 0       # commanded since the last refill
        self.low_threshold_steps = 0

    def refill(self, volume_nl, concentration_ng_per_ul):
        """Set the contents after a refill (the caller has checked capacity
        and concentration change). Used steps restart from zero."""
        self.fill_nl = min(volume_nl, self.capacity_nl)
        self.fill_steps = self.fill_nl * self.steps_per_ml // NL_PER_ML
        self.concentration_ng_per_ul = concentration_ng_per_ul
        self.used_steps = 0

    def use(self, steps):
        self.used_steps += steps

    def remaining_steps(self):
        return self.fill_steps - self.used_steps

    def remaining_nl(self):
        """Display value: whole nL, rounded down."""
        remaining = self.remaining_steps()
        return remaining * NL_PER_ML // self.steps_per_ml if remaining > 0 else 0

    def is_empty(self):
        return self.remaining_steps() <= 0

    def set_low_threshold(self, low_nl, low_days, daily_ng):
        """Low when at or below `low_nl`, or when the projected time to empty
        at `daily_ng` per day is at or below `low_days`: whichever is larger,
        precomputed in steps so the per-wake check allocates nothing."""
        by_volume = low_nl * self.steps_per_ml // NL_PER_ML
        by_time = 0
        if self.concentration_ng_per_ul:
            # daily steps = daily_ng / conc (uL) * steps_per_ml / 1000
            by_time = -(-low_days * daily_ng * self.steps_per_ml // (self.concentration_ng_per_ul * 1000))
        self.low_threshold_steps = max(by_volume, by_time)

    def is_low(self):
        return self.remaining_steps() <= self.low_threshold_steps

    def to_record(self):
        return [self.capacity_nl, self.concentration_ng_per_ul, self.fill_nl, self.used_steps]

    def restore(self, record):
        self.capacity_nl, conc, fill_nl, used = record
        self.refill(fill_nl, conc)
        self.used_steps = used
