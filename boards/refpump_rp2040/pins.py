"""Reference board rev A: which GPIO does what (docs/DESIGN.md, section 3).

The only place a pin number is written. Drivers are handed pins and buses
built from these; nothing in the pump logic or in hw/ names a pin.
"""
from pump.compat import const

# TMC2209 stepper driver, 1/16 microstepping (MS1, MS2 strapped on the board).
STEP = const(2)
DIR = const(3)
ENABLE = const(4)          # active low
DIAG = const(5)            # high on stall or driver error
STEPPER_STATE_MACHINE = const(0)   # PIO0, state machine 0

# Limit microswitches, normally closed to ground: open (or a broken wire) reads 1.
END_OF_TRAVEL = const(6)   # open: plunger at the end, reservoir empty
HOME = const(7)            # open: plunger fully retracted

I2C_BUS = const(0)         # DS3231 real-time clock
I2C_SDA = const(8)
I2C_SCL = const(9)

BUZZER = const(15)         # piezo, PWM
LAMP_RED = const(16)
LAMP_YELLOW = const(17)
LAMP_GREEN = const(18)

ACK = const(20)            # ACK/SILENCE button to ground
BENCH_ENABLE = const(21)   # jumper to ground: bench mode, read once at boot
SERVICE = const(22)        # jumper to ground: service mode (console open, no delivery), read once at boot

PRESSURE = const(26)       # ADC0, line pressure transducer through a 10k/20k divider
VSYS = const(29)           # ADC3, VSYS/3 on the Pico
TEMPERATURE_CHANNEL = const(4)  # ADC4, the RP2040's own sensor
