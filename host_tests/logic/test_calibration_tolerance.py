"""The reservoir estimate and the low-reservoir warning hold for any true
calibration within the board's accepted steps_per_ml range, and the empty
stop is the end-of-travel switch, not an estimate kept low for safety.

The board's calibration says 12 732 steps/mL; the plunger really moves
1/9 549 mL a step (the estimate's worst case: the reservoir empties 33 %
sooner than the count says) or 1/15 915 mL (it lasts 25 % longer)."""
# micropython-heap: 320K
from hw.calibration import CALIBRATION_LIMITS
from hw.sim.runner import Run
from simcase import HOUR_MS, scenario

LOW_DAYS = 3
DAY_MS = 24 * HOUR_MS


def run_with_true_calibration(true_steps_per_ml, days):
    """25 mcg/h of 500 mcg/mL (1.2 mL/day as programmed) from 8 mL; checks
    the estimate against the plunger every simulated hour. Returns the run
    and the run times (ms) of the low and empty alarms."""
    case = scenario(days * 24, steps=(("00:00", 25),), fill_ml=8, low_ml=0.1, low_days=LOW_DAYS)
    case["true_steps_per_ml"] = true_steps_per_ml
    sim = Run(case)
    sim._advance()
    mech = sim.board.mechanism
    for hour in range(1, days * 24 + 1):
        sim.advance_to(hour * HOUR_MS)
        truth_nl = mech.reservoir_steps * 1_000_000 // true_steps_per_ml
        assert sim.ctl.reservoir.remaining_nl() <= truth_nl, (hour, sim.ctl.reservoir.remaining_nl(), truth_nl)
    raised = {}
    for kind, _priority, raised_s, _ack, _clear in sim.results()["alarms"]:
        raised.setdefault(kind, raised_s * 1000)
    return sim, raised


def test_a_calibration_at_the_low_end_still_warns_the_full_lead_before_empty():
    lowest = CALIBRATION_LIMITS["steps_per_ml"][0]
    sim, raised = run_with_true_calibration(lowest, 6)  # empties after about 5 days
    assert "low_reservoir" in raised and "empty_reservoir" in raised
    assert raised["empty_reservoir"] - raised["low_reservoir"] >= LOW_DAYS * DAY_MS - 2 * 60_000
    assert sim.board.mechanism.reservoir_steps <= 0  # stopped by the switch at the real end


def test_a_calibration_at_the_high_end_is_not_stopped_while_drug_is_left():
    highest = CALIBRATION_LIMITS["steps_per_ml"][1]
    sim, raised = run_with_true_calibration(highest, 9)  # lasts about 8.3 days
    assert "low_reservoir" in raised and "empty_reservoir" in raised
    assert raised["empty_reservoir"] - raised["low_reservoir"] >= LOW_DAYS * DAY_MS - 2 * 60_000
    # the stop came when the plunger had pushed all there was (within a batch)
    assert sim.board.mechanism.reservoir_steps <= 8, sim.board.mechanism.reservoir_steps
