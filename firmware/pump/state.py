"""The controller's state record: what goes to flash, and the boot that reads it.

One JSON record (pump.store makes it atomic and checksummed) holds all a
restarted pump needs to go on safely: prescription, patient, reservoir
accounting, settings, titration history, stop reasons, latched alarms, the
protocol counter, the delivery authorisation (see pump.controller for the
power-cut argument) and the wall time it was saved at (`t`: day and ms of
day, so pump.boot can tell how long a power outage lasted), the steady
clock's offset (`clk`, Controller.steady_s), the epoch every kept time
counts from (`ep`, Controller.now_s) and the steady time of the last refill
(`rf`: a refill-visit change must follow one, even across a reset). Keys are
short:
the record is rewritten up to every ten minutes for the life of the pump.

Boot, by what the store finds:
- nothing (a new pump): no prescription, nothing delivered, no alarm;
- a good record, or the previous one when the newest is damaged (logged):
  resume, counting the authorised-but-unconfirmed steps as used, and raise
  the low-priority `restart` alarm so a reset never goes unnoticed; then
  pump.boot checks for a crash loop and for the dose an outage missed;
- no readable record, or one from newer firmware: stay stopped with a
  storage_fault alarm. Guessing a dose is worse than stopping loudly.
"""
import json

from pump import alarms, boot, events
from pump.prescription import Prescription
from pump.store import EMPTY, FALLBACK, FAULT
from pump.titration import TitrationHistory

BOOT_STATUS = {name: i for i, name in enumerate(events.BOOT_STATUS)}  # the log's codes


class StateCodec:
    VERSION = 4

    @staticmethod
    def migrate(version, payload):
        """Version 1 had no save time: it reads as saved at an unknown time
        (no outage to measure; see pump.boot). Versions 1 and 2 may lack the
        steady clock's offset (`clk`: no set_clock counted, 0) and the epoch
        (`ep`: their times count from 2000, day 0). Versions 1 to 3 kept the
        last refill's time in RAM only: none is on record (`rf`), so a
        refill-visit change waits for the next refill. Anything else is
        refused (store reports it as a fault)."""
        if version not in (1, 2, 3):
            return None
        record = json.loads(payload)
        if version == 1:
            record["t"] = None
        if "clk" not in record:
            record["clk"] = 0
        if "ep" not in record:
            record["ep"] = 0
        record["rf"] = None
        return json.dumps(record).encode()

    @staticmethod
    def encode(ctl):
        record = {
            "rx": ctl.prescription.to_record() if ctl.prescription else None,
            "pt": ctl.patient,
            "res": ctl.reservoir.to_record(),
            "set": ctl.settings,
            "tit": ctl.history.to_record() if ctl.history else None,
            "stop": ctl.stop_mask,
            "stp": list(ctl.stopped_since) if ctl.stopped_since else None,
            "sb": ctl.stop_after_bolus,  # a single bolus or prime with stopped-pump mode to follow
            "ln": ctl.line_drug,  # old drug in the line, and the bridge (pump.therapy)
            "auth": ctl.authorized_steps,
            "ctr": ctl.counter,
            "al": ctl.alarms.to_record(),
            "t": [ctl.day, ctl.ms],
            "clk": ctl.clock_offset_s,
            "ep": ctl.epoch_day,  # the frame of every time in the record (Controller.now_s)
            "rf": ctl.refilled_s,
        }
        return json.dumps(record).encode()

    @staticmethod
    def restore(ctl, day, ms):
        payload, status = ctl.store.load()
        now_s = ctl.now_s()
        if status == FAULT:
            ctl.record(now_s, events.RESTART, BOOT_STATUS[status], 0)
            ctl.storage_failed(now_s)
            return
        if status == EMPTY:
            ctl.record(now_s, events.RESTART, BOOT_STATUS[status], 0)
            boot.check_crashes(ctl, now_s)
            return
        try:
            record = json.loads(payload)
            StateCodec._apply(ctl, record)
            saved_at = record["t"]
        except (ValueError, KeyError, TypeError, IndexError):
            # A record that passed its CRC but does not decode: a defect,
            # not flash damage. Same answer: do not guess.
            ctl.storage_failed(now_s)
            return
        now_s = ctl.now_s()  # in the record's frame
        if status == FALLBACK:
            ctl.record(now_s, events.STORAGE_FALLBACK, 0, 0)
        uncertain = ctl.authorized_steps - ctl.reservoir.used_steps
        ctl.reservoir.use(uncertain)  # may have gone out: never overestimate
        ctl.record(now_s, events.RESTART, BOOT_STATUS[status], uncertain)
        ctl.alarms.raise_(alarms.RESTART, now_s)
        ctl.alarms.clear(alarms.RESTART, now_s)  # latched until acknowledged
        ctl.refresh_limits()
        if (ctl.history is not None and ctl.history.running is not None) or ctl.stop_after_bolus is not None:
            ctl.cut_bolus(now_s)  # a bolus the power cut short: at most what is due by now went in
        boot.check_outage(ctl, saved_at, uncertain, now_s)
        boot.check_crashes(ctl, now_s)
        if ctl.delivering:
            ctl.start_delivery()

    @staticmethod
    def _apply(ctl, record):
        ctl.epoch_day = record["ep"]
        ctl.prescription = Prescription.from_record(record["rx"]) if record["rx"] else None
        ctl.patient = record["pt"]
        ctl.reservoir.restore(record["res"])
        ctl.settings = record["set"]
        ctl.history = TitrationHistory.from_record(record["tit"]) if record["tit"] else None
        ctl.stop_mask = record["stop"]
        since = record.get("stp")  # absent in a record from before stops had a start
        ctl.stopped_since = tuple(since) if since else None
        ctl.stop_after_bolus = record.get("sb")  # both absent in records from before the therapy modes
        ctl.line_drug = record.get("ln")
        ctl.authorized_steps = record["auth"]
        ctl.counter = record["ctr"]
        ctl.restore_alarms(record["al"])
        ctl.clock_offset_s = record["clk"]
        ctl.refilled_s = record["rf"]
