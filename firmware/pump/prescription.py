"""A flex schedule, daily or weekly: the rate the pump must run at any time.

A day's program is a list of steps, each (start ms of day, rate in ng/h),
sorted by start. A prescription is either daily (one list, every day alike)
or weekly (seven lists, Monday to Sunday, as implanted pumps allow a
schedule that differs from day to day). The first step of a day need not
start at midnight: until it does, the last step of the day before runs on
(the monograph allows higher doses at night, so a night step typically
wraps past midnight into the next day).

A day's dose is what the patient receives from midnight to midnight: the
tail of the day before up to the first start, then the day's own steps. It
is exact: durations are whole ms and rates whole ng/h, so it is a whole ng
once divided by the ms in an hour, and validation refuses a schedule for
which it is not. A single step is a plain continuous infusion.

Days are counted from 2000-01-01 (the RTC epoch), a Saturday, so the weekday
is a small-int modulo (pump.units.weekday) on the wake path.
"""
from pump.compat import const
from pump.units import MS_PER_DAY, MS_PER_HOUR, WEEKDAY_NAMES, weekday

MAX_STEPS_PER_DAY = const(13)  # an implanted pump's flex day; bounds the command and the flash record


class Prescription:
    """Immutable once built; a change of prescription is a new object.

    `days` holds one step tuple (daily) or seven (weekly, index 0 Monday);
    `steps` is the daily program's steps, None for a weekly one.
    """

    def __init__(self, steps=None, week=None):
        # steps, or week (seven lists of steps): validated by the caller
        # (druglib) before it reaches the pump. Doses are in drug units, so a
        # change of concentration at a refill leaves the prescription alone.
        if week is None:
            self.days = (self._sorted(steps),)
        else:
            self.days = tuple(self._sorted(day) for day in week)
        self.weekly = week is not None
        self.steps = None if self.weekly else self.days[0]

    @staticmethod
    def _sorted(steps):
        return tuple(sorted((int(s), int(r)) for s, r in steps))

    @staticmethod
    def from_record(record):
        """A prescription from to_record()'s plain data (the state record)."""
        if isinstance(record, dict):
            return Prescription(week=record["week"])
        return Prescription(record)

    def to_record(self):
        if self.weekly:
            return {"week": [[list(step) for step in day] for day in self.days]}
        return [list(step) for step in self.days[0]]

    def steps_of(self, day):
        """The steps of a day (days since 2000-01-01)."""
        return self.days[weekday(day)] if self.weekly else self.days[0]

    def rate_at(self, day, ms_of_day):
        """Rate in ng/h at a time of a day (the step whose start is the last
        <= t; before the day's first start, the day before's last step)."""
        steps = self.steps_of(day)
        if steps[0][0] > ms_of_day:
            return self.steps_of(day - 1)[-1][1]
        rate = steps[0][1]
        for start, step_rate in steps:
            if start > ms_of_day:
                break
            rate = step_rate
        return rate

    def next_change_ms(self, day, ms_of_day):
        """The next step start of the day after `ms_of_day`, or MS_PER_DAY.

        Midnight is always a boundary, even inside a step (a weekly day may
        change there), so that one segment of constant rate never spans
        more than a day of ms; that keeps every time in the step path below
        2**30.
        """
        for start, _rate in self.steps_of(day):
            if start > ms_of_day:
                return start
        return MS_PER_DAY

    def day_ng_x_ms(self, index):
        """Dose of day `index` of `days` (a weekday for a weekly program),
        midnight to midnight, as ng x (ms/h): exact, for validation to divide."""
        steps = self.days[index]
        total = self.days[index - 1][-1][1] * steps[0][0]  # the day before runs on
        for i in range(len(steps)):
            start, rate = steps[i]
            end = steps[i + 1][0] if i + 1 < len(steps) else MS_PER_DAY
            total += rate * (end - start)
        return total

    def day_doses_ng(self):
        """The dose of each day of `days`, in ng, rounded down (exact for
        validated schedules): one value for a daily program, seven for a weekly."""
        return [self.day_ng_x_ms(i) // MS_PER_HOUR for i in range(len(self.days))]

    def week_doses_ng(self):
        """The dose of each weekday, Monday first (a daily program's seven alike)."""
        doses = self.day_doses_ng()
        return doses if self.weekly else doses * 7

    def dose_on_ng(self, day):
        """The dose of a calendar day (days since 2000-01-01)."""
        return self.day_ng_x_ms(weekday(day) if self.weekly else 0) // MS_PER_HOUR

    def daily_ng(self):
        """The largest dose of any day, in ng: a daily program's dose. What
        the low-reservoir warning plans with (never late) and the log shows."""
        return max(self.day_doses_ng())

    def week_ng(self):
        return sum(self.week_doses_ng())

    def max_rate_ng_per_h(self):
        return max(rate for steps in self.days for _start, rate in steps)

    def min_rate_ng_per_h(self):
        return min(rate for steps in self.days for _start, rate in steps)

    def day_names(self):
        """Names for the entries of `days`, for messages: ("daily",) or the weekdays."""
        return WEEKDAY_NAMES if self.weekly else ("daily",)

    def segments(self, day, ms_of_day):
        """(rate ng/h, length ms) of each stretch of constant rate from
        (day, ms_of_day) on, without end. For planning (the refill card,
        the reservoir reply, a stopped pump's missed dose), not for the wake
        path: a generator, and its callers work with big integers."""
        while True:
            end = self.next_change_ms(day, ms_of_day)
            yield self.rate_at(day, ms_of_day), end - ms_of_day
            ms_of_day = end
            if ms_of_day == MS_PER_DAY:
                day, ms_of_day = day + 1, 0

    def ms_to_deliver(self, day, ms_of_day, amount_ng_x_ms):
        """ms from (day, ms_of_day) until the schedule has delivered
        `amount_ng_x_ms` (ng x ms/h; any integer), rounded up. Whole weeks
        are skipped by division, so a projection months ahead walks at most
        two weeks of steps."""
        if amount_ng_x_ms <= 0:
            return 0
        week = self.week_ng() * MS_PER_HOUR
        weeks = (amount_ng_x_ms - 1) // week
        amount_ng_x_ms -= weeks * week
        elapsed = weeks * 7 * MS_PER_DAY
        segments = self.segments(day, ms_of_day)
        while True:  # the schedule delivers a whole week in a week, so this ends within one
            rate, length = next(segments)
            if rate * length >= amount_ng_x_ms:
                return elapsed + -(-amount_ng_x_ms // rate)
            amount_ng_x_ms -= rate * length
            elapsed += length

    def ng_x_ms_over(self, day, ms_of_day, duration_ms):
        """What the schedule delivers in `duration_ms` from (day, ms_of_day),
        in ng x (ms/h) (exact; // MS_PER_HOUR for ng). Whole weeks by
        multiplication, the rest walked."""
        weeks, duration_ms = divmod(max(duration_ms, 0), 7 * MS_PER_DAY)
        amount = weeks * self.week_ng() * MS_PER_HOUR
        segments = self.segments(day, ms_of_day)
        while True:  # duration_ms is under a week now
            rate, length = next(segments)
            if length >= duration_ms:
                return amount + rate * duration_ms
            amount += rate * length
            duration_ms -= length

    def ng_between(self, day0, ms0, day1, ms1):
        """ng asked for from (day0, ms0) to (day1, ms1), rounded down; 0 when
        the second is not later (the dose a power cut missed)."""
        return self.ng_x_ms_over(day0, ms0, (day1 - day0) * MS_PER_DAY + ms1 - ms0) // MS_PER_HOUR

    def __eq__(self, other):
        return isinstance(other, Prescription) and self.days == other.days
