"""The controller's state record: what goes to flash, and the boot that reads it.

One JSON record (pump.store makes it atomic and checksummed) holds all a
restarted pump needs to go on safely: prescription, patient, reservoir
accounting, settings, titration history, stop reasons, latched alarms, the
protocol counter and the delivery authorisation (see pump.controller for the
power-cut argument). Keys are short: the record is rewritten up to every ten
minutes for the life of the pump.

Boot, by what the store finds:
- nothing (a new pump): no prescription, nothing delivered, no alarm;
- a good record, or the previous one when the newest is damaged (logged):
  resume, counting the authorised-but-unconfirmed steps as used, and raise
  the low-priority `restart` alarm so a reset never goes unnoticed;
- no readable record, or one from newer firmware: stay stopped with a
  storage_fault alarm. Guessing a dose is worse than stopping loudly.
"""
import json

from pump import alarms, events
from pump.alarms import AlarmManager
from pump.prescription import Prescription
from pump.store import EMPTY, FALLBACK, FAULT
from pump.titration import TitrationHistory

BOOT_STATUS = {name: i for i, name in enumerate(events.BOOT_STATUS)}  # the log's codes


class StateCodec:
    VERSION = 1

    @staticmethod
    def migrate(version, payload):
        """Version 1 is the first format: there is nothing older to read, so
        any other version is refused (store reports it as a fault)."""
        return None

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
            "auth": ctl.authorized_steps,
            "ctr": ctl.counter,
            "al": ctl.alarms.to_record(),
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
            return
        try:
            StateCodec._apply(ctl, json.loads(payload))
        except (ValueError, KeyError, TypeError, IndexError):
            # A record that passed its CRC but does not decode: a defect,
            # not flash damage. Same answer: do not guess.
            ctl.storage_failed(now_s)
            return
        if status == FALLBACK:
            ctl.record(now_s, events.STORAGE_FALLBACK, 0, 0)
        uncertain = ctl.authorized_steps - ctl.reservoir.used_steps
        ctl.reservoir.use(uncertain)  # may have gone out: never overestimate
        ctl.record(now_s, events.RESTART, BOOT_STATUS[status], uncertain)
        ctl.alarms.raise_(alarms.RESTART, now_s)
        ctl.alarms.clear(alarms.RESTART, now_s)  # latched until acknowledged
        ctl.refresh_limits()
        if ctl.delivering:
            ctl.start_delivery()

    @staticmethod
    def _apply(ctl, record):
        ctl.prescription = Prescription.from_record(record["rx"]) if record["rx"] else None
        ctl.patient = record["pt"]
        ctl.reservoir.restore(record["res"])
        ctl.settings = record["set"]
        ctl.history = TitrationHistory.from_record(record["tit"]) if record["tit"] else None
        ctl.stop_mask = record["stop"]
        since = record.get("stp")  # absent in a record from before stops had a start
        ctl.stopped_since = tuple(since) if since else None
        ctl.authorized_steps = record["auth"]
        ctl.counter = record["ctr"]
        ctl.alarms = AlarmManager.from_record(record["al"], ctl._on_alarm_event)
