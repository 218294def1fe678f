"""The line between the pump and the patient, as the simulator models it.

The line (the pump's outlet volume and the catheter) holds a dead volume of
fluid; what leaves the catheter tip is what entered it a dead volume
earlier. The simulator follows that volume as parcels of drug, first in,
first out, in motor steps of the true calibration, and reports the dose at
the tip beside the dose at the outlet, per day and per hour: after a
concentration change the two differ until the old drug has left the line,
which is what the pump's bridge (pump.therapy) is for.

Amounts are as in hw/sim/dosecheck.Ledger: concentration x steps
(ng x steps_per_ml / 1000), and programmed ng x ms/h.
"""
MS_PER_HOUR = 3_600_000  # the simulator's own: it shares no code with the pump it checks


class Catheter:
    def __init__(self, dead_steps, concentration_ng_per_ul):
        """A line of `dead_steps` full of the drug at that concentration
        (0: a dry line, before its prime)."""
        self.parcels = [[dead_steps, concentration_ng_per_ul]] if dead_steps else []  # the tip's end first
        self.held = dead_steps
        self.dead_steps = dead_steps
        self.tip_daily = []
        self.tip_hourly = []
        self.programmed_hourly = []

    def push(self, t_ms, steps, concentration_ng_per_ul):
        """`steps` of drug enter at the outlet at t_ms; as much leaves the tip."""
        parcels = self.parcels
        if parcels and parcels[-1][1] == concentration_ng_per_ul:
            parcels[-1][0] += steps
        else:
            parcels.append([steps, concentration_ng_per_ul])
        self.held += steps
        out = 0
        while self.held > self.dead_steps:
            head = parcels[0]
            take = min(head[0], self.held - self.dead_steps)
            out += take * head[1]
            head[0] -= take
            self.held -= take
            if not head[0]:
                parcels.pop(0)
        if out:
            self._add(self.tip_daily, t_ms // 86_400_000, out)
            self._add(self.tip_hourly, t_ms // MS_PER_HOUR, out)

    def program(self, t0_ms, t1_ms, rate_ng_per_h):
        """What the prescription asked over [t0, t1), per hour."""
        while t0_ms < t1_ms:
            hour = t0_ms // MS_PER_HOUR
            end = min(t1_ms, (hour + 1) * MS_PER_HOUR)
            self._add(self.programmed_hourly, hour, rate_ng_per_h * (end - t0_ms))
            t0_ms = end

    @staticmethod
    def _add(table, index, amount):
        while len(table) <= index:
            table.append(0)
        table[index] += amount
