"""The pump never stops silently: whenever the simulator's truth shows that
less than half of the prescribed dose reached the patient over the last ten
minutes, the buzzer (as the simulated piezo really sounded it) was heard in
the last fifteen. One test per way a stop used to go quiet."""
# micropython-heap: 512K
from hw.sim.runner import Run
from simcase import HOUR_MS, scenario

MINUTE_MS = 60_000
RATE_MCG_PER_H = 30
STEPS_PER_H = RATE_MCG_PER_H * 12_732 // 500  # nominal calibration, 500 mcg/mL


def silent_minutes(hours, **options):
    """(Run, [run minutes at which the pump was stopped and unheard])."""
    sim = Run(scenario(hours, steps=(("00:00", RATE_MCG_PER_H),), **options))
    sim._advance()
    delivered = [sim.board.mechanism.to_patient_steps] * 11  # the last 11 minutes, by minute % 11
    silent = []
    for minute in range(1, hours * 60 + 1):
        t_ms = minute * MINUTE_MS
        sim.advance_to(t_ms)
        delivered[minute % 11] = sim.board.mechanism.to_patient_steps
        if minute < 10:
            continue
        starved = 2 * (delivered[minute % 11] - delivered[(minute - 10) % 11]) * 6 < STEPS_PER_H
        heard_ms = sim.board.buzzer.last_sounded_ms(t_ms)
        if starved and (heard_ms is None or t_ms - heard_ms > 15 * MINUTE_MS):
            silent.append(minute)
    return sim, silent


def occlusion_raised_s(hours, events):
    """When the occlusion alarm of this run is raised (run s): the detector
    decides, so the tests ask it rather than assume."""
    sim = Run(scenario(hours, steps=(("00:00", RATE_MCG_PER_H),), events=events))
    return min(r for kind, _p, r, _a, _c in sim.run()["alarms"] if kind == "occlusion")


def test_ack_while_the_line_is_still_occluded_does_not_leave_the_pump_stopped_and_silent():
    occlude = [{"at_h": 2, "do": "occlude"}]
    raised_s = occlusion_raised_s(3, occlude)
    # ACK during the alarm, before the pressure is back to baseline; the line
    # is never cleared, so the pump must say so for the rest of the run
    events = occlude + [{"at_h": (raised_s + 20) / 3600, "do": "press"}]
    sim, silent = silent_minutes(8, events=events)
    assert not sim.ctl.delivering
    assert silent == []


def test_ack_while_occluded_then_the_line_clears_asks_for_the_ack_that_restarts_delivery():
    occlude = [{"at_h": 2, "do": "occlude"}]
    raised_s = occlusion_raised_s(3, occlude)
    events = occlude + [{"at_h": (raised_s + 20) / 3600, "do": "press"},
                        {"at_h": 3, "do": "clear_occlusion"}, {"at_h": 3.5, "do": "press"}]
    sim, silent = silent_minutes(6, events=events)
    assert silent == []
    assert sim.ctl.delivering  # the second ACK, once the line was clear, restarted delivery


def test_a_stop_command_acknowledged_keeps_reminding_for_a_day():
    stop = {"cmd": "stop", "args": {"reason": "suspected overdose"}}
    events = [{"at_h": 1, "do": "command", "command": stop}, {"at_h": 1.1, "do": "press"}]
    sim, silent = silent_minutes(26, events=events)
    assert silent == []
    kinds = [alarm[0] for alarm in sim.results()["alarms"]]
    assert kinds == ["delivery_stopped"]


def test_the_simulated_piezo_knows_when_it_really_sounded():
    from hw.sim.devices import SimBuzzer, SimTime
    from pump.alarms import REMIND_MEDIUM_MS, TONE_MEDIUM_MS, TONE_NONE_MS
    time = SimTime(0, 0)
    buzzer = SimBuzzer(time)
    assert buzzer.last_sounded_ms(1000) is None
    buzzer.play(REMIND_MEDIUM_MS)               # 200 on, 200 off, 200 on, 200 off, 200 on: once
    assert buzzer.last_sounded_ms(100) == 100
    assert buzzer.last_sounded_ms(300) == 199
    assert buzzer.last_sounded_ms(60_000) == 999
    time.t_ms = 10_000
    buzzer.play(TONE_NONE_MS)
    assert buzzer.last_sounded_ms(20_000) == 999
    time.t_ms = 30_000
    buzzer.play(TONE_MEDIUM_MS)                 # loops every 7 s
    assert buzzer.last_sounded_ms(30_000 + 7000 * 100 + 300) == 30_000 + 7000 * 100 + 199
    assert buzzer.last_sounded_ms(30_000 + 7000 * 100 + 3000) == 30_000 + 7000 * 100 + 999


def test_a_stuck_sensor_flagged_before_a_power_blink_stays_flagged_after_it():
    """The pump boots with no reading history: a sensor fault present at the
    reset stays until the reading moves, so a pump pushing into a blocked
    line it cannot see is not shown as fine for the stuck rule's 24 readings."""
    events = [{"at_h": 0.0, "do": "sensor_fault", "sensor": "pressure", "fault": "stuck"},
              {"at_h": 0.6, "do": "press", "button": "ack"}, {"at_h": 0.61, "do": "occlude"},
              {"at_h": 0.62, "do": "power_cut", "off_ms": 1000}]
    results = Run(scenario(1.5, events=events)).run()
    faults = [a for a in results["alarms"] if a[0] == "pressure_sensor_fault"]
    assert len(faults) == 1 and faults[0][4] is None  # one episode, never cleared
    assert results["restarts"] == 1
