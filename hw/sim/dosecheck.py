"""Independent checks of a simulated run: dose error, programmed and delivered.

The dose-error check keeps its own exact ideal, from the prescription and
calibration alone, and compares it with the pulses the simulated driver
really emitted, at every pulse. It shares no code with the pump logic (a
mistake the two made together would pass): its arithmetic comes from the
definition of a step, 1/steps_per_ml of a mL. A rate of r ng/h at c ng/uL
is r/c uL/h, so r x steps_per_ml / (c x 1000 x 3 600 000) steps per ms: the
ideal is an integer numerator over `c x 3.6e9` that grows by
r x steps_per_ml each ms, exactly. It is paused whenever the pump is not delivering
normally (stopped by an alarm, a command, a restart) and restarts from what
was emitted when delivery resumes: the pump does not catch up missed doses,
so neither does the ideal.

Errors are measured on the 1 ms grid the pump schedules on: just before a
pulse (the most the pump can lag) and just after it (the most it can lead).
"""
MS_PER_HOUR = 3_600_000
UL_PER_ML = 1000


def ideal_den(concentration_ng_per_ul):
    """Numerator units per step at a concentration (module doc)."""
    return concentration_ng_per_ul * UL_PER_ML * MS_PER_HOUR


def bolus_per_ms(bolus_ng, steps_per_ml, duration_ms):
    """(numerator per ms, the remainder under a ms) of a bolus given evenly
    over duration_ms: bolus_ng at c ng/uL is bolus_ng x steps_per_ml /
    (c x 1000) steps, over ideal_den(c) that is bolus_ng x steps_per_ml x
    3.6e6, whatever the concentration."""
    total = bolus_ng * steps_per_ml * MS_PER_HOUR
    return total // duration_ms, total % duration_ms


class DoseChecker:
    def __init__(self, steps_per_ml):
        self.steps_per_ml = steps_per_ml
        self.active = False
        self.concentration = None
        self.den = 1
        self.num = 0
        self.t0 = 0
        self.acc = 0          # ideal at t0, times den, since the last reset
        self.commanded = 0    # pulses since the last reset
        self.lag = (0, 1)     # worst (numerator, den): how far behind the ideal
        self.lead = (0, 1)    # and how far ahead of it
        self.held = None      # the worst lag (numerator, den) while a command is handled (hold)

    def reset(self, t_ms, concentration_ng_per_ul):
        self.active = True
        self.concentration = concentration_ng_per_ul
        self.den = ideal_den(concentration_ng_per_ul)
        self.t0 = t_ms
        self.acc = 0
        self.commanded = 0
        self.num = 0

    def pause(self):
        self.active = False

    def set_rate(self, t_ms, rate_ng_per_h, bolus_num):
        """From t_ms on, the ideal grows at this rate (basal + bolus)."""
        self.acc += self.num * (t_ms - self.t0)
        self.t0 = t_ms
        self.num = rate_ng_per_h * self.steps_per_ml + bolus_num

    def add_lump(self, lump):
        """The sub-ms remainder of a bolus, due when the bolus ends."""
        self.acc += lump

    def _ideal(self, t_ms):
        return self.acc + self.num * (t_ms - self.t0)

    def pulse(self, t_ms):
        lag = self._ideal(t_ms - 1) - self.commanded * self.den
        self.commanded += 1
        lead = self.commanded * self.den - self._ideal(t_ms)
        self._note(lag, lead)

    def at(self, t_ms):
        """No pulse at t_ms: only the lag can have grown."""
        lag = self._ideal(t_ms) - self.commanded * self.den
        if self.held is not None:
            if lag * self.held[1] > self.held[0] * self.den:
                self.held = (lag, self.den)
            return
        self._note(lag, 0)

    def hold(self):
        """The pump is working (a command, a controller pass): time passes
        (its flash writes) before the runner sees what it did. A stop (a
        command, an occlusion) cancels the steps due after the clock reading
        it acted at, which are then not owed; so the lag that grows meanwhile
        counts only if the pump is still delivering afterwards (release).
        Pulses that go out meanwhile count as ever."""
        if self.held is None:
            self.held = (0, 1)

    def release(self, delivering):
        held, self.held = self.held, None
        if held is not None and delivering and held[0] * self.lag[1] > self.lag[0] * held[1]:
            self.lag = held

    def error_micro_steps(self, t_ms):
        """Ideal minus commanded at t_ms, in millionths of a step (positive: behind)."""
        return (self._ideal(t_ms) - self.commanded * self.den) * 1_000_000 // self.den

    def _note(self, lag, lead):
        den = self.den
        if lag * self.lag[1] > self.lag[0] * den:
            self.lag = (lag, den)
        if lead * self.lead[1] > self.lead[0] * den:
            self.lead = (lead, den)

    def worst_micro_steps(self):
        """(lag, lead) at their worst, in millionths of a step."""
        return (self.lag[0] * 1_000_000 // self.lag[1], self.lead[0] * 1_000_000 // self.lead[1])

    def max_error_steps(self):
        """The largest gap either way, in whole steps, rounded up."""
        return max(-(-self.lag[0] // self.lag[1]), -(-self.lead[0] // self.lead[1]))


class Ledger:
    """Programmed and delivered drug per day of the run, in exact integers.

    programmed: ng x (ms per hour) from the prescription in force (whatever
    the pump is doing: it is what was asked); delivered: steps that reached
    the patient times the concentration they carried (ng x steps_per_ml /
    1000, since one step is 1000 * conc / steps_per_ml ng).
    """

    def __init__(self):
        self.programmed = []  # per day: ng x MS_PER_HOUR
        self.delivered = []   # per day: conc x steps
        self.programmed_by_concentration = {}  # ng/uL -> ng x MS_PER_HOUR
        self.total_programmed = 0  # over the run, in the same units as the days
        self.total_delivered = 0

    def programmed_pl(self):
        """Volume asked for, in pL (rounded down once, at the end)."""
        return sum(amount * 1000 // (conc * 3600)
                   for conc, amount in self.programmed_by_concentration.items())

    def _volume(self, concentration_ng_per_ul, amount):
        table = self.programmed_by_concentration
        table[concentration_ng_per_ul] = table.get(concentration_ng_per_ul, 0) + amount

    def _day(self, table, day):
        while len(table) <= day:
            table.append(0)

    def program(self, t0_ms, t1_ms, rate_ng_per_h, concentration_ng_per_ul):
        """Add what the prescription asked over [t0, t1), split at days."""
        while t0_ms < t1_ms:
            day = t0_ms // 86_400_000
            end = min(t1_ms, (day + 1) * 86_400_000)
            self._day(self.programmed, day)
            self._day(self.delivered, day)
            self.programmed[day] += rate_ng_per_h * (end - t0_ms)
            self.total_programmed += rate_ng_per_h * (end - t0_ms)
            self._volume(concentration_ng_per_ul, rate_ng_per_h * (end - t0_ms))
            t0_ms = end

    def program_bolus(self, t_ms, bolus_ng, concentration_ng_per_ul):
        day = t_ms // 86_400_000
        self._day(self.programmed, day)
        self._day(self.delivered, day)
        self.programmed[day] += bolus_ng * MS_PER_HOUR
        self.total_programmed += bolus_ng * MS_PER_HOUR
        self._volume(concentration_ng_per_ul, bolus_ng * MS_PER_HOUR)

    def deliver(self, t_ms, steps, concentration_ng_per_ul):
        day = t_ms // 86_400_000
        self._day(self.programmed, day)
        self._day(self.delivered, day)
        self.delivered[day] += steps * concentration_ng_per_ul
        self.total_delivered += steps * concentration_ng_per_ul
