"""Bring-up self-test of a real board: every actuator moved, every sensor read.

For a hardware engineer at the bench, behind a protocol command. Returns a
list of (item, status, detail) with status "pass", "fail" or "skip". The
buzzer and lamp items can only show that the driver ran without error: the
detail says what to listen for or look at, and the engineer judges.

The motor moves only with the BENCH-ENABLE jumper fitted and nothing queued:
stepping the plunger pushes (or draws back) whatever is in the line, which
must never happen to a patient. It goes a few steps one way and the same
number back, so the plunger ends where it started; away from a reached limit
switch first.
"""
from array import array
import time

MOTOR_STEPS = 32
STEP_SPACING_MS = 5
SUPPLY_MV_RANGE = (3_000, 5_500)          # VSYS on USB or a Li-ion cell
TEMPERATURE_MC_RANGE = (0, 60_000)        # a bench, not a freezer or an oven
LAMP_MS = 400
BURST_LIMIT_MS = 5_000
NOISE_READINGS = 256
# pump.occlusion's stuck-sensor rule takes identical readings for a stuck
# sensor; it relies on the ADC's noise making a reading repeat the one before
# at most one time in three (hw/pressure.py: 0.5 LSB rms or more).
MAX_REPEATS = NOISE_READINGS // 3
_POLL_MS = 20


def run(board, alarm_patterns):
    """`alarm_patterns`: (name, tone_ms) pairs, e.g. (("high", alarms.TONE_HIGH_MS), ...)."""
    results = []
    _motor(board, results)
    _sensors(board, results)
    for name, pattern in alarm_patterns:
        results.append(_buzzer(board, name, pattern))
    for colour, lamp in enumerate(("red", "yellow", "green")):
        board.lamps.show((colour, LAMP_MS, 0))
        _wait(board, LAMP_MS)
        results.append(("lamp " + lamp, "pass", "look: %s lamp lit for %d ms" % (lamp, LAMP_MS)))
    board.lamps.show(None)
    return results


def _motor(board, results):
    stepper = board.stepper
    if not board.bench_enabled:
        for item in ("motor reverse", "motor forward"):
            results.append((item, "skip", "fit the BENCH-ENABLE jumper: the motor moves the plunger"))
        return
    if stepper.pending():
        results.append(("motor", "skip", "steps are queued: stop delivery first"))
        return
    order = (True, False) if board.at_home() else (False, True)
    for forward in order:
        results.append(_spin(board, forward))


def _spin(board, forward):
    stepper = board.stepper
    item = "motor forward" if forward else "motor reverse"
    offsets_ms = array("I", range(0, MOTOR_STEPS * STEP_SPACING_MS, STEP_SPACING_MS))
    stepper.stalled()  # clear an old latch
    before = stepper.emitted
    if not stepper.pulse(offsets_ms, MOTOR_STEPS, forward):
        return item, "fail", "refused: the plunger is at the limit switch that way"
    _wait(board, MOTOR_STEPS * STEP_SPACING_MS + 500, lambda: not stepper.pending())
    moved = stepper.emitted - before
    expected = MOTOR_STEPS if forward else -MOTOR_STEPS
    if stepper.pending():
        stepper.cancel()
        return item, "fail", "pulses never came out (%d of %d)" % (abs(moved), MOTOR_STEPS)
    if stepper.stalled():
        return item, "fail", "TMC2209 DIAG raised: stall or driver error"
    if moved != expected:
        return item, "fail", "emitted %d, expected %d" % (moved, expected)
    return item, "pass", "%d steps, EN released" % MOTOR_STEPS


def _sensors(board, results):
    mpsi = board.pressure.read_mpsi()
    fault = board.pressure.fault_of(mpsi)
    results.append(("pressure", "fail" if fault else "pass",
                    "%d mpsi%s" % (mpsi, " (" + fault + ")" if fault else "")))
    results.append(_pressure_noise(board))
    end, home = board.end_of_travel(), board.at_home()
    results.append(("limit switches", "fail" if end and home else "pass",
                    "end of travel %s, home %s" % (_reached(end), _reached(home))))
    results.append(_in_range("supply", board.supply_mv(), SUPPLY_MV_RANGE, "mV"))
    results.append(_in_range("temperature", board.temperature_mc(), TEMPERATURE_MC_RANGE, "mdegC"))
    day, ms = board.clock.now()
    results.append(("clock", "pass" if board.clock.valid() else "fail",
                    "day %d, %d ms%s" % (day, ms, "" if board.clock.valid() else
                                         " (DS3231 missing or its time was lost)")))


def _pressure_noise(board):
    """Whether the pressure readings vary as the stuck-sensor rule needs."""
    last, repeats = None, 0
    for _ in range(NOISE_READINGS):
        mpsi = board.pressure.read_mpsi()
        if mpsi == last:
            repeats += 1
        last = mpsi
    board.watchdog.feed()
    return ("pressure noise", "pass" if repeats <= MAX_REPEATS else "fail",
            "%d of %d readings repeated the one before (the stuck-sensor check allows %d: "
            "the ADC needs 0.5 LSB of noise)" % (repeats, NOISE_READINGS, MAX_REPEATS))


def _buzzer(board, name, tone_ms):
    if not tone_ms:
        return "buzzer " + name, "skip", "a silent pattern"
    burst_ms = sum(tone_ms[:-1])   # one burst, without the gap before it repeats
    board.buzzer.play(tone_ms)
    _wait(board, burst_ms if burst_ms < BURST_LIMIT_MS else BURST_LIMIT_MS)
    board.buzzer.stop()
    return "buzzer " + name, "pass", "listen: %d pulses in %d ms" % (len(tone_ms) // 2, burst_ms)


def _in_range(item, value, limits, unit):
    low, high = limits
    status = "pass" if low <= value <= high else "fail"
    return item, status, "%d %s (expected %d..%d)" % (value, unit, low, high)


def _reached(active):
    return "reached (or its wire is open)" if active else "clear"


def _wait(board, ms, done=None):
    """Sleep up to `ms`, feeding the watchdog, until done() if given."""
    deadline = time.ticks_add(time.ticks_ms(), ms)
    while done is None or not done():
        left_ms = time.ticks_diff(deadline, time.ticks_ms())
        if left_ms <= 0:
            return
        board.watchdog.feed()
        time.sleep_ms(left_ms if left_ms < _POLL_MS else _POLL_MS)
