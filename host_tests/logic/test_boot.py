"""What a restart says beyond the restored state (pump.boot): a firmware
crash loop stops delivery loudly, and a long power outage raises an alarm
whose priority grows with the dose it cost."""
# micropython-heap: 384K
# (the simulated board, its flash and a crash loop beside the pump logic, which the therapy
# modes grew by 9 KB on the 64-bit unix port)
import json

from hw.sim.board import SimBoard
from pump import alarms, boot, events
from pump.alarms import CRASH_LOOP, HIGH, MEDIUM, MISSED_DELIVERY, REMIND_HIGH_MS, RESTART, TONE_HIGH_MS
from pump.controller import Controller
from pump.prescription import Prescription
from pump.state import StateCodec
from pump.stops import STOP_CRASHES
from pump.store import RecordStore

DAY0, EIGHT_AM = 9557, 8 * 3_600_000
MINUTE_MS, HOUR_MS = 60_000, 3_600_000
RATE_NG_PER_H = 30_000  # 720 mcg/day
ACCEPT = {"override_reason": None, "violations": [], "catheter_suspected": False}


def delivering_pump(epoch_day=None):
    """`epoch_day` 0: a pump whose times count from 2000, as before the epoch."""
    board = SimBoard(DAY0, EIGHT_AM, fill_nl=20_000_000)
    ctl = Controller(board, DAY0, EIGHT_AM)
    if epoch_day is not None:
        ctl.epoch_day = epoch_day
    ctl.patient = {"origin": "spinal", "age_years": 40, "days_since_implant": 100}
    ctl.refill(20_000_000, 500, ctl.now_s())
    ctl.set_prescription(Prescription([(0, RATE_NG_PER_H)]), ctl.now_s(), ACCEPT)
    ctl.advance(*board.time.day_ms())
    return board, ctl


def later(board, ms):
    """Time passes (the pump is off, or about to crash): the clock moves on."""
    board.stepper.cancel()
    board.time.t_ms += ms


def reboot(board):
    """The board resets: the pump restores from the same flash."""
    board.stepper.cancel()
    ctl = Controller(board, *board.time.day_ms())
    ctl.advance(*board.time.day_ms())
    return ctl


def crash(board, ctl):
    """What firmware/main.py does when the loop raises: log it, reset."""
    ctl.record(ctl.now_s(), events.CRASH, 0)
    return reboot(board)


def logged(ctl, code):
    return [(a, b) for _seq, _t, c, a, b in ctl.log.newest(64) if c == code]


def episodes(ctl, kind):
    return [e for e in ctl.alarms.history if e.kind == kind]


# --- a crash at every boot ---------------------------------------------------------

def test_three_crashes_in_half_an_hour_stop_delivery_with_a_sounding_high_alarm():
    board, ctl = delivering_pump()
    for _ in range(boot.CRASH_LOOP_CRASHES - 1):
        later(board, 5 * MINUTE_MS)
        ctl = crash(board, ctl)
        assert ctl.delivering and not ctl.alarms.active(CRASH_LOOP)
    later(board, 5 * MINUTE_MS)
    ctl = crash(board, ctl)
    assert not ctl.delivering and ctl.stop_mask & STOP_CRASHES
    assert ctl.alarms.condition_present(CRASH_LOOP)
    assert board.buzzer.current is TONE_HIGH_MS
    stopped = logged(ctl, events.STOPPED)
    assert stopped and stopped[0][0] & STOP_CRASHES
    notes = [(a, b) for a, b in reversed(logged(ctl, events.NOTE))]
    assert events.note_text(notes).endswith("3 crashes in 30 min")


def test_the_crash_loop_stop_survives_further_resets_and_sounds_at_each_boot():
    board, ctl = delivering_pump()
    for _ in range(boot.CRASH_LOOP_CRASHES + 3):
        later(board, MINUTE_MS)
        ctl = crash(board, ctl)
        board.buzzer.current = None  # the reset silences the piezo
        ctl = Controller(board, *board.time.day_ms())  # a boot, before its first wake-up
    assert board.buzzer.current is TONE_HIGH_MS and not ctl.delivering
    assert len(episodes(ctl, CRASH_LOOP)) == 1


def test_crashes_spread_over_more_than_the_window_are_single_resets():
    board, ctl = delivering_pump()
    for _ in range(2 * boot.CRASH_LOOP_CRASHES):
        later(board, 20 * MINUTE_MS)
        ctl = crash(board, ctl)
    assert ctl.delivering and not ctl.alarms.active(CRASH_LOOP)


def test_resume_lifts_the_crash_loop_stop_and_the_crashes_before_it_no_longer_count():
    board, ctl = delivering_pump()
    for _ in range(boot.CRASH_LOOP_CRASHES):
        later(board, MINUTE_MS)
        ctl = crash(board, ctl)
    ctl.resume(STOP_CRASHES, ctl.now_s())
    ctl.advance(*board.time.day_ms())
    assert ctl.delivering and not ctl.alarms.condition_present(CRASH_LOOP)
    later(board, MINUTE_MS)
    ctl = crash(board, ctl)  # one more: a single reset again
    assert ctl.delivering


def test_crashes_stamped_after_now_end_the_count():
    # the clock was set back a day after two crashes: their place in time is
    # unknown, and one crash since is a single reset
    board, ctl = delivering_pump()
    for _ in range(2):
        later(board, MINUTE_MS)
        ctl = crash(board, ctl)
    board.time.t_ms -= 24 * HOUR_MS
    ctl.advance(*board.time.day_ms())
    later(board, MINUTE_MS)
    ctl = crash(board, ctl)
    assert ctl.delivering


# --- a long power outage ----------------------------------------------------------

def deliver_for(board, ctl, ms):
    """The pump runs: it wakes when it asks, its pulses go out."""
    end_ms = board.time.t_ms + ms
    while board.time.t_ms < end_ms:
        wake_t = board.time.run_ms(board.time.day_ms()[0], ctl.advance(*board.time.day_ms()))
        t_next = min(wake_t, end_ms)
        for _t, forward in board.stepper.due_before(t_next):
            board.stepper.emit(forward)
        board.time.t_ms = t_next


def outage(off_ms, clock_ok=True):
    board, ctl = delivering_pump()
    deliver_for(board, ctl, 47 * MINUTE_MS)  # delivering for a while, then the power goes
    later(board, off_ms)
    board.rtc.oscillator_stopped = not clock_ok  # the DS3231 says it lost its time
    board.clock.now()
    return board, reboot(board)


def test_a_twelve_hour_outage_raises_missed_delivery_high_and_logs_the_mcg():
    _board, ctl = outage(12 * HOUR_MS)
    (missed,) = episodes(ctl, MISSED_DELIVERY)
    assert missed.priority == HIGH
    ((mcg, minutes),) = logged(ctl, events.MISSED_DELIVERY)
    assert 12 * 60 <= minutes <= 12 * 60 + 11
    # 30 mcg/h for 12 h, less at most the ten minutes authorised ahead
    assert 12 * 30 - 5 <= mcg <= 12 * 30 + 6
    assert ctl.delivering  # delivery resumes, without catching up


def test_a_four_day_outage_is_high_and_says_how_much():
    _board, ctl = outage(4 * 24 * HOUR_MS)
    assert episodes(ctl, MISSED_DELIVERY)[0].priority == HIGH
    ((mcg, _minutes),) = logged(ctl, events.MISSED_DELIVERY)
    assert 4 * 720 - 5 <= mcg <= 4 * 720 + 6


def test_two_hours_off_is_medium_and_a_short_cut_is_only_the_restart():
    _board, ctl = outage(2 * HOUR_MS)
    assert episodes(ctl, MISSED_DELIVERY)[0].priority == MEDIUM
    _board, ctl = outage(2 * MINUTE_MS)
    assert episodes(ctl, MISSED_DELIVERY) == [] and episodes(ctl, RESTART)


def test_the_missed_delivery_alarm_sounds_until_acknowledged():
    board, ctl = outage(12 * HOUR_MS)
    assert board.buzzer.current is TONE_HIGH_MS
    ctl.acknowledge()
    later(board, MINUTE_MS)
    ctl.advance(*board.time.day_ms())
    assert not ctl.alarms.active(MISSED_DELIVERY)


def test_a_clock_that_lost_its_time_or_reads_before_the_save_is_an_unknown_outage():
    _board, ctl = outage(10 * MINUTE_MS, clock_ok=False)
    assert episodes(ctl, MISSED_DELIVERY)[0].priority == HIGH
    assert logged(ctl, events.MISSED_DELIVERY) == [(boot.UNKNOWN, boot.UNKNOWN)]
    _board, ctl = outage(-2 * 24 * HOUR_MS)  # an RTC reset to an earlier date
    assert episodes(ctl, MISSED_DELIVERY)[0].priority == HIGH
    assert logged(ctl, events.MISSED_DELIVERY) == [(boot.UNKNOWN, boot.UNKNOWN)]


def test_a_pump_stopped_before_the_outage_restores_its_stop_not_a_missed_dose():
    board, ctl = delivering_pump()
    ctl.stop(1, ctl.now_s(), "planned")
    later(board, 12 * HOUR_MS)
    ctl = reboot(board)
    assert episodes(ctl, MISSED_DELIVERY) == []
    assert ctl.alarms.condition_present(alarms.DELIVERY_STOPPED)


def test_the_prescription_integral_over_an_outage_follows_the_flex_steps():
    rx = Prescription([(7 * HOUR_MS, 20_000), (21 * HOUR_MS, 40_000)])  # 40 at night, 20 by day
    assert rx.ng_between(DAY0, 6 * HOUR_MS, DAY0, 8 * HOUR_MS) == 40_000 + 20_000
    assert rx.ng_between(DAY0, 20 * HOUR_MS, DAY0 + 1, 8 * HOUR_MS) == 20_000 + 10 * 40_000 + 20_000
    assert rx.ng_between(DAY0, 8 * HOUR_MS, DAY0 + 3, 8 * HOUR_MS) == 3 * rx.daily_ng()
    assert rx.ng_between(DAY0, 8 * HOUR_MS, DAY0, 7 * HOUR_MS) == 0


# --- the state record's time, and the record from before it ----------------------

def save_as_version(board, ctl, version, *dropped):
    """The record as an older firmware wrote it: without the keys it lacked."""
    record = json.loads(StateCodec.encode(ctl))
    for key in dropped:
        del record[key]
    RecordStore(board.fs, "state", version).save(json.dumps(record).encode())


def test_a_version_1_record_is_migrated_and_boots_without_an_outage_alarm():
    board, ctl = delivering_pump(epoch_day=0)
    save_as_version(board, ctl, 1, "t", "clk", "ep")
    later(board, 3 * HOUR_MS)
    ctl = reboot(board)
    assert ctl.delivering and ctl.prescription == Prescription([(0, RATE_NG_PER_H)])
    assert episodes(ctl, MISSED_DELIVERY) == [] and episodes(ctl, RESTART)
    payload, _status = RecordStore(board.fs, "state", StateCodec.VERSION).load()
    assert json.loads(payload)["t"] == [ctl.day, ctl.ms]  # its pass's clock reading (flash takes ms)
    assert (ctl.epoch_day, ctl.clock_offset_s) == (0, 0)


def test_a_version_2_record_with_the_steady_clock_and_no_epoch_keeps_both_clocks():
    board, ctl = delivering_pump(epoch_day=0)  # its times count from 2000
    ctl.set_clock(ctl.clock_s(ctl.now_s()) + 3600)
    ctl.advance(*board.clock.now())  # the shell's pass after the command reads the new clock
    steady_s = ctl.steady_s()
    save_as_version(board, ctl, 2, "ep")
    later(board, 3 * HOUR_MS)
    ctl = reboot(board)
    assert ctl.delivering and (ctl.epoch_day, ctl.clock_offset_s) == (0, 3600)
    assert 3 * 3600 <= ctl.steady_s() - steady_s <= 3 * 3600 + 2  # + the boot's edge search
    payload, _status = RecordStore(board.fs, "state", StateCodec.VERSION).load()
    assert (json.loads(payload)["ep"], json.loads(payload)["clk"]) == (0, 3600)


def test_a_version_2_record_with_the_epoch_and_no_steady_clock_keeps_its_epoch():
    board, ctl = delivering_pump()
    now_s = ctl.now_s()
    save_as_version(board, ctl, 2, "clk")
    later(board, 3 * HOUR_MS)
    ctl = reboot(board)
    assert ctl.delivering and (ctl.epoch_day, ctl.clock_offset_s) == (DAY0, 0)
    assert 3 * 3600 <= ctl.steady_s() - now_s <= 3 * 3600 + 2
    assert StateCodec.migrate(StateCodec.VERSION, b"{}") is None  # this or newer firmware's record: no guess


def test_a_version_3_record_has_no_refill_on_record():
    board, ctl = delivering_pump()
    ctl.refill(10_000_000, 500, ctl.now_s())
    assert ctl.refilled_s is not None
    save_as_version(board, ctl, 3, "rf")
    ctl = reboot(board)
    assert ctl.delivering and ctl.refilled_s is None  # a refill-visit change waits for the next refill


def test_a_crash_loop_in_the_simulator_is_lifted_by_the_resume_command_only():
    from simcase import run
    crashes = [{"at_h": 1 + i / 60, "do": "crash"} for i in range(3)]
    presses = [{"at_h": 1.2, "do": "press"}]
    sim, results = run(3, events=crashes + presses)
    assert not sim.ctl.delivering and sim.ctl.stop_mask == STOP_CRASHES  # the ACK did not lift it
    resume = {"at_h": 1.5, "do": "command", "command": {"cmd": "resume"}}
    sim, results = run(3, events=crashes + presses + [resume])
    assert sim.ctl.delivering and '"delivering": true' in results["replies"][0]
    assert [a[0] for a in results["alarms"]].count("crash_loop") == 1
