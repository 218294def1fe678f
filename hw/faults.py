"""The one exception a driver raises when the hardware is not what the board says.

A device that does not answer, answers as something else, or reads as an open
circuit at start-up is a start-up fault, never a silent zero: the pump must
not dose on a clock it cannot read or watch a line through a sensor that is
not there. `kind` is the alarm kind the controller raises for it (the names
of the scenario contract: `clock_fault`, `pressure_sensor_fault`, ...), so the
board can hand the fault on without translating it.
"""


class StartupFault(Exception):
    def __init__(self, kind, detail):
        Exception.__init__(self, kind, detail)
        self.kind = kind
        self.detail = detail
