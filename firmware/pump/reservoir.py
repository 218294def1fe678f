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

The calibration is only known to within the board's accepted steps_per_ml
range (lowest, highest): a step may move up to 1/lowest mL. So the estimate
counts each step as that much, and the fill in steps of that size
(`fill_steps`): whatever the true calibration within the range, the estimate
is at or below the truth, and the low-reservoir threshold in the same units
(the commanded steps of `low_days`) keeps its lead. The same range gives the
other bound, `steps_left_max`: past it the reservoir is surely empty even
with the highest calibration. Between the two the pump goes on delivering;
the end-of-travel switch is the physical check that it is empty (see
pump.monitor), so an estimate kept low for safety never stops delivery early.
"""
from pump.units import NL_PER_ML


class Reservoir:
    def __init__(self, capacity_nl, steps_per_ml, steps_per_ml_range=None):
        self.capacity_nl = capacity_nl
        self.steps_per_ml = steps_per_ml
        lowest, highest = steps_per_ml_range or (steps_per_ml, steps_per_ml)
        self.lowest_steps_per_ml = min(lowest, steps_per_ml)
        self.highest_steps_per_ml = max(highest, steps_per_ml)
        self.concentration_ng_per_ul = 0
        self.fill_nl = 0          # estimated volume at the last refill
        self.fill_steps = 0       # the same, in steps of the largest volume a step may move, rounded down
        self.fill_steps_max = 0   # ... and of the smallest, rounded up: no more steps than this can push
        self.used_steps = 0       # commanded since the last refill
        self.low_threshold_steps = 0

    def refill(self, volume_nl, concentration_ng_per_ul):
        """Set the contents after a refill (the caller has checked capacity
        and concentration change). Used steps restart from zero."""
        self.fill_nl = min(volume_nl, self.capacity_nl)
        self.fill_steps = self.fill_nl * self.lowest_steps_per_ml // NL_PER_ML
        self.fill_steps_max = -(-self.fill_nl * self.highest_steps_per_ml // NL_PER_ML)
        self.concentration_ng_per_ul = concentration_ng_per_ul
        self.used_steps = 0

    def use(self, steps):
        self.used_steps += steps

    def remaining_steps(self):
        """What is surely left, in steps of the largest volume a step may move."""
        return self.fill_steps - self.used_steps

    def steps_left_max(self):
        """The most steps the reservoir may still hold (highest calibration)."""
        return self.fill_steps_max - self.used_steps

    def remaining_nl(self):
        """Display value: whole nL, rounded down, surely left."""
        remaining = self.remaining_steps()
        return remaining * NL_PER_ML // self.lowest_steps_per_ml if remaining > 0 else 0

    def is_empty(self):
        """Empty even if every step moved the least the calibration allows."""
        return self.steps_left_max() <= 0

    def set_low_threshold(self, low_nl, low_days, daily_ng):
        """Low when at or below `low_nl`, or when the projected time to empty
        at `daily_ng` per day is at or below `low_days`: whichever is larger,
        precomputed in steps so the per-wake check allocates nothing. By
        time it is the steps commanded in `low_days`: each uses at most one
        step of the estimate's size, so the warning's lead holds for any
        calibration in the range."""
        by_volume = low_nl * self.lowest_steps_per_ml // NL_PER_ML
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
