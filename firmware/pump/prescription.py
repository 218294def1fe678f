"""A daily-repeating flex schedule: the rate the pump must run at any time of day.

A prescription is a list of steps, each (start ms of day, rate in ng/h),
sorted by start. The first step need not start at midnight: the last step of
the day runs on past midnight until the first step of the next day (the
monograph allows higher doses at night, so a night step typically wraps).
A single step is a plain continuous infusion. The daily dose is the sum of
rate x duration over the day, in ng, and is exact: durations are whole ms and
rates whole ng/h, so it is a whole ng once divided by the ms in an hour, and
validation refuses a schedule for which it is not.
"""
from pump.units import MS_PER_DAY, MS_PER_HOUR


class Prescription:
    """Immutable once built; a change of prescription is a new object."""

    def __init__(self, steps):
        # steps: sequence of (start_ms, ng_per_h); validated by the caller
        # (druglib) before it reaches the pump. Doses are in drug units, so a
        # change of concentration at a refill leaves the prescription alone.
        self.steps = tuple(sorted((int(s), int(r)) for s, r in steps))

    def rate_at(self, ms_of_day):
        """Rate in ng/h at a time of day (the step whose start is the last <= t)."""
        steps = self.steps
        rate = steps[-1][1]  # before the first start: yesterday's last step wraps
        for start, step_rate in steps:
            if start > ms_of_day:
                break
            rate = step_rate
        return rate

    def next_change_ms(self, ms_of_day):
        """The next step start after `ms_of_day`, or MS_PER_DAY (midnight).

        Midnight is always a boundary, even inside a step, so that one
        segment of constant rate never spans more than a day of ms; that
        keeps every time in the step path below 2**30.
        """
        for start, _rate in self.steps:
            if start > ms_of_day:
                return start
        return MS_PER_DAY

    def daily_ng_x_ms(self):
        """The daily dose as ng x (ms/h): exact, for validation to divide."""
        total = 0
        steps = self.steps
        for i in range(len(steps)):
            start, rate = steps[i]
            end = steps[i + 1][0] if i + 1 < len(steps) else steps[0][0] + MS_PER_DAY
            total += rate * (end - start)
        return total

    def ng_x_ms_before(self, ms_of_day):
        """ng x (ms/h) asked for from midnight to `ms_of_day`."""
        steps = self.steps
        total, t, rate = 0, 0, steps[-1][1]  # before the first start: yesterday's last step wraps
        for start, step_rate in steps:
            if start >= ms_of_day:
                break
            total += rate * (start - t)
            t, rate = start, step_rate
        return total + rate * (ms_of_day - t)

    def ng_between(self, day0, ms0, day1, ms1):
        """ng asked for from (day0, ms0) to (day1, ms1), rounded down; 0 when
        the second is not later."""
        if (day1, ms1) <= (day0, ms0):
            return 0
        x = (day1 - day0) * self.daily_ng_x_ms() + self.ng_x_ms_before(ms1) - self.ng_x_ms_before(ms0)
        return x // MS_PER_HOUR

    def daily_ng(self):
        """Daily dose in ng, rounded down (exact for validated schedules)."""
        return self.daily_ng_x_ms() // MS_PER_HOUR

    def max_rate_ng_per_h(self):
        return max(rate for _start, rate in self.steps)

    def __eq__(self, other):
        return isinstance(other, Prescription) and self.steps == other.steps
