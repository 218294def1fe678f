"""pumpctl: read and program the pump over its USB serial command channel.

    pumpctl --port /dev/ttyACM0 status
    pumpctl --port /dev/ttyACM0 --key-file ~/pump-keys/board-07.key set-prescription 00:00=30 07:00=20
    pumpctl --port /dev/ttyACM0 --key-file ~/pump-keys/board-07.key set-prescription \
            --day mon-fri 00:00=30 07:00=20 --day sat,sun 00:00=30 09:00=25
    pumpctl --port /dev/ttyACM0 --key-file ~/pump-keys/board-07.key --json bolus 50

--port takes a device path or a pyserial URL (socket://host:port, a pty
path for a simulated board). Commands that change the pump need the device
key (--key-file: 64 hex digits, kept outside the work tree, as
`tools/deploy.py --new-key ~/pump-keys/board-07.key` makes it) and a fresh counter: from --counter-file
(the last counter this host used, advanced before each command), or else
asked of the pump with the read-only `auth` command. Replies print as tables;
--json prints the pump's reply line as it came.

Exit codes: 0 done; 1 the pump refused the command; 2 bad usage; 3 the pump
did not answer in time; 4 the port, key file, counter file or --png file failed.
"""
import argparse
import datetime
import json
import math
import os
import sys

import serial

import card
import logexport
from pumplink import CounterFile, LinkError, NoAnswer, PumpLink, PumpRefused, needs_mac, read_key_file

# pumplink put the firmware and the repo root on sys.path: what the pump
# takes (its argument table, the drug library's figures) is read from the
# pump's own modules, not restated here.
from hw.keyfile import KEY_BYTES  # noqa: E402
from pump import commands as pump_commands  # noqa: E402
from pump.druglib import BACLOFEN_INTRATHECAL  # noqa: E402
from pump.schema import COMMANDS  # noqa: E402
from pump.titration import TITRATION  # noqa: E402
from pump.units import WEEKDAY_NAMES  # noqa: E402

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_NO_ANSWER, EXIT_LINK = 0, 1, 2, 3, 4

READ_ONLY = (
    ("status", "delivery state, rate and alarms"),
    ("prescription", "the programmed schedule"),
    ("reservoir", "volume, concentration and projected empty time"),
    ("alarms", "active alarms and their history"),
    ("version", "firmware version"),
    ("auth", "last accepted counter, lockout, bench jumper"),
)
NO_ARGUMENTS = (
    ("resume", "resume delivery after a stop"),
    ("ack", "acknowledge the active alarms"),
    ("silence", "silence the buzzer for the active alarms"),
    ("selftest", "run the pump's self-test"),
)


def field(command, name):
    """(kind, handler's name, default, limits) of an argument, from the pump's table (pump.schema)."""
    return COMMANDS[command][1][name]


def choices(command, name):
    """The words a choice argument takes, as the pump's table lists them."""
    return field(command, name)[3]


def option_for(command, handler_name):
    """The option a person types for the argument the handler knows as `handler_name`."""
    for wire_name, (_kind, key, _default, _limits) in COMMANDS[command][1].items():
        if key == handler_name:
            return "--" + wire_name.replace("_", "-")
    raise KeyError(handler_name)


# plan WHAT -> the options it cannot do without: the pump's own rule
# (pump.commands.PLAN_NEEDS, which names its handler's fields: screening_ng),
# as the options to type (--screening-mcg), in the table's order of WHATs.
PLAN_NEEDS = tuple((what, tuple(option_for("plan", key) for key in pump_commands.PLAN_NEEDS[what]))
                   for what in choices("plan", "what"))
# What each kind of bolus is, for its help; every kind the pump takes needs one.
BOLUS_KIND_HELP = {"clinician": "after implant", "screening": "the trial before implant",
                   "remainder": "what a cut-short bolus did not deliver"}
_BOLUS_RULES = BACLOFEN_INTRATHECAL["clinician_bolus"]
_HOLIDAY = BACLOFEN_INTRATHECAL["drug_holiday"]


def number(text):
    """A JSON number from the command line: int when whole, else a finite float."""
    try:
        return int(text)
    except ValueError:
        value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def step(text):
    """'07:00=20' -> {"start": "07:00", "mcg_per_h": 20}."""
    start, sep, rate = text.partition("=")
    try:
        if not sep:
            raise ValueError(text)
        return {"start": start, "mcg_per_h": number(rate)}
    except ValueError:
        raise argparse.ArgumentTypeError("expected HH:MM=MCG_PER_H (like 07:00=20), got %r" % text)


def day_steps(tokens):
    """['mon-fri', '00:00=30', '07:00=20'] -> (['mon', ..., 'fri'], [steps]).
    Days: a name, a range (mon-fri, sat-mon wraps), or a comma list of either."""
    if not tokens or "=" in tokens[0]:
        raise ValueError("wants the days first, like mon-fri 00:00=30")
    days = []
    for part in tokens[0].lower().split(","):
        first, _sep, last = part.partition("-")
        if first not in WEEKDAY_NAMES or (last and last not in WEEKDAY_NAMES):
            raise ValueError("%r is not a day, a range like mon-fri or a list like sat,sun" % tokens[0])
        i = WEEKDAY_NAMES.index(first)
        days.append(WEEKDAY_NAMES[i])
        while last and WEEKDAY_NAMES[i] != last:
            i = (i + 1) % 7
            days.append(WEEKDAY_NAMES[i])
    if len(tokens) < 2:
        raise ValueError("%s: give its steps, like 00:00=30" % tokens[0])
    try:
        return days, [step(token) for token in tokens[1:]]
    except argparse.ArgumentTypeError as exc:
        raise ValueError("%s: %s" % (tokens[0], exc))


def week(day_options):
    """The --day options as the wire's week object; every day exactly once."""
    result = {}
    for tokens in day_options:
        days, steps = day_steps(tokens)
        for day in days:
            if day in result:
                raise ValueError("%s is given twice" % day)
            result[day] = steps
    missing = [day for day in WEEKDAY_NAMES if day not in result]
    if missing:
        raise ValueError("needs every day of the week; %s missing" % ", ".join(missing))
    return {day: result[day] for day in WEEKDAY_NAMES}


def weekly_problem(options):
    """The usage problem of a --day week, or of giving both forms or neither."""
    if options.day and options.steps:
        return "give the daily steps or --day, not both"
    if not options.day and not options.steps:
        return "give the daily steps (HH:MM=MCG_PER_H ...) or a week (--day DAYS HH:MM=MCG_PER_H ...)"
    return week_problem(options.day, "--day")


def week_problem(day_options, option):
    """What is wrong with the week given as `option` (None: it was not given, or is right)."""
    try:
        if day_options:
            week(day_options)
    except ValueError as exc:
        return "%s %s" % (option, exc)
    return None


def present(**args):
    """The arguments that were given (an option left out is not sent)."""
    return {name: value for name, value in args.items() if value is not None}


def build_parser():
    parser = argparse.ArgumentParser(prog="pumpctl", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--port", default=os.environ.get("PUMPCTL_PORT"),
                        help="serial device or pyserial URL (default: $PUMPCTL_PORT)")
    parser.add_argument("--baud", type=int, default=115200, help="baud rate (USB CDC ignores it)")
    parser.add_argument("--timeout", type=float, default=2.0, metavar="S", help="seconds to wait for a reply")
    parser.add_argument("--key-file", default=os.environ.get("PUMPCTL_KEY_FILE"),
                        help="device key, %d hex digits (default: $PUMPCTL_KEY_FILE)" % (2 * KEY_BYTES))
    parser.add_argument("--counter-file", help="keep this host's command counter here instead of asking the pump")
    parser.add_argument("--json", action="store_true", help="print the raw JSON reply")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(cli_name, help_text, wire_name, build):
        sub = commands.add_parser(cli_name, help=help_text, description=help_text)
        sub.set_defaults(wire=wire_name, build=build, usage_problem=lambda a: None,
                         show=lambda reply, options: render(reply))
        return sub

    for name, help_text in READ_ONLY + NO_ARGUMENTS:
        command(name, help_text, name, lambda a: {})
    sub = command("log", "the newest event-log entries", "log", lambda a: present(n=a.n, before=a.before))
    sub.add_argument("-n", type=int, help="how many (default %d, at most %d)"
                     % (field("log", "n")[2], field("log", "n")[3][1]))
    sub.add_argument("--before", type=int, metavar="SEQ", help="only entries older than this seq (the next page)")
    sub.add_argument("--export", metavar="FILE.csv|FILE.json", help="the whole log, oldest first, into this file")
    sub = command("card", "the refill-visit card: drug, program, reservoir, empty and refill-by dates", "card",
                  lambda a: {})
    sub.set_defaults(show=show_card)
    sub.add_argument("--png", metavar="FILE", help="also write the card as a one-page PNG")
    sub = command("patient", "who the pump treats (the drug library's rules depend on it)", "patient",
                  lambda a: present(origin=a.origin, age_years=a.age_years, days_since_implant=a.days_since_implant,
                                    starting_mcg_per_day=a.starting_mcg_per_day, new_patient=a.new_patient,
                                    reason=a.reason, override=a.override))
    sub.add_argument("origin", choices=choices("patient", "origin"))
    sub.add_argument("--age-years", type=int, required=True, metavar="YEARS")
    sub.add_argument("--days-since-implant", type=int, metavar="DAYS",
                     help="leave out for a patient not yet implanted (the screening trial)")
    sub.add_argument("--starting-mcg-per-day", type=number, metavar="MCG",
                     help="the post-implant starting dose from the patient's record (a restart's target)")
    sub.add_argument("--new-patient", action="store_true", default=None,
                     help="a different patient: resets the titration and bolus history (needs --reason)")
    sub.add_argument("--reason", help="why the history is reset (logged)")
    sub.add_argument("--override", metavar="REASON",
                     help="keep the running program past a soft limit for this patient, with the reason logged")
    sub = command("set-prescription", "program the daily or weekly schedule", "set_prescription",
                  lambda a: present(steps=a.steps or None, week=week(a.day) if a.day else None, kind=a.kind,
                                    dilution=a.dilution, override=a.override))
    sub.set_defaults(usage_problem=weekly_problem)
    sub.add_argument("steps", nargs="*", type=step, metavar="HH:MM=MCG_PER_H", help="a daily schedule")
    sub.add_argument("--day", action="append", nargs="+", metavar="DAYS HH:MM=MCG_PER_H",
                     help="a weekly schedule instead: the days (mon, mon-fri, sat,sun) and their steps; "
                          "repeat until every day is given")
    sub.add_argument("--kind", choices=choices("set_prescription", "kind"),
                     help="what kind of change this is (default %s)" % TITRATION)
    sub.add_argument("--dilution", action="store_true", default=None, help="the drug is a declared dilution")
    sub.add_argument("--override", metavar="REASON", help="accept a soft-limit warning, with the reason logged")
    sub = command("refill", "record a refill", "refill",
                  lambda a: present(add_ml=a.add_ml, concentration_mcg_per_ml=a.concentration,
                                    dilution=a.dilution, confirm=a.confirm, override=a.override))
    sub.add_argument("--add-ml", type=number, required=True, metavar="ML")
    sub.add_argument("--concentration", type=number, required=True, metavar="MCG_PER_ML")
    sub.add_argument("--dilution", action="store_true", default=None, help="a non-standard concentration, declared")
    sub.add_argument("--confirm", action="store_true", default=None,
                     help="confirm a change of concentration or a fill above capacity")
    sub.add_argument("--override", metavar="REASON", help="accept a soft-limit warning, with the reason logged")
    sub = command("bolus", "give a bolus (with --then: a single bolus, the basal held)", "bolus",
                  lambda a: present(mcg=a.mcg, kind=a.kind, duration_s=a.duration_s, override=a.override,
                                    then=a.then, reason=a.reason))
    sub.add_argument("mcg", type=number, metavar="MCG")
    sub.add_argument("--kind", choices=choices("bolus", "kind"),
                     help=", ".join("%s (%s%s)" % (kind, BOLUS_KIND_HELP[kind],
                                                   "; the default" if kind == field("bolus", "kind")[2] else "")
                                    for kind in choices("bolus", "kind")))
    sub.add_argument("--duration-s", type=int, metavar="S",
                     help="over how many seconds (default %d; the drug library's least %d)"
                     % (field("bolus", "duration_s")[2], _BOLUS_RULES["min_duration_s"]))
    sub.add_argument("--override", metavar="REASON", help="accept a soft-limit warning, with the reason logged")
    single_bolus_options(sub, "bolus")
    sub = command("prime", "fill the line's dead volume at the bolus rate (line volume, not dose)", "prime",
                  lambda a: present(then=a.then, reason=a.reason))
    single_bolus_options(sub, "prime", required=True)
    command("bridge", "after a concentration change: push the old drug in the line at its own rate", "bridge",
            lambda a: present(confirm=a.confirm)).add_argument(
                "--confirm", action="store_true", default=None, help="deliver it (without: the pump says what it would do)")
    command("stop", "stop delivery (logged and alarmed)", "stop",
            lambda a: {"reason": " ".join(a.reason)}).add_argument("reason", nargs="+", metavar="REASON")
    sub = command("settings", "low-reservoir warning thresholds, the catheter's dead volume", "settings",
                  lambda a: present(low_reservoir_ml=a.low_reservoir_ml, low_reservoir_days=a.low_reservoir_days,
                                    catheter_cm=a.catheter_cm, catheter_ml_per_cm=a.catheter_ml_per_cm))
    sub.add_argument("--low-reservoir-ml", type=number, metavar="ML")
    sub.add_argument("--low-reservoir-days", type=number, metavar="DAYS")
    sub.add_argument("--catheter-cm", type=int, metavar="CM", help="the catheter's length as implanted")
    sub.add_argument("--catheter-ml-per-cm", type=number, metavar="ML", help="its volume per cm (its label)")
    command("set-clock", "set the pump's clock (default: this computer's local time)", "set_clock",
            lambda a: {"iso": a.iso or datetime.datetime.now().strftime("%Y-%m-%dT%H:%M:%S")}
            ).add_argument("iso", nargs="?", metavar="YYYY-MM-DDTHH:MM:SS")
    sub = command("plan", "clinician's planning aids: starting dose, drug-holiday taper, flex lead time, "
                          "CSF preview (they change nothing)", "plan",
                  lambda a: present(what=a.what, screening_mcg=a.screening_mcg, effect_h=a.effect_h,
                                    days=a.days, hours=a.hours, effects=a.effects,
                                    week_effects=week(a.week_effects) if a.week_effects else None))
    sub.set_defaults(usage_problem=missing_plan_options)
    sub.add_argument("what", choices=choices("plan", "what"))
    sub.add_argument("--screening-mcg", type=number, help="starting_dose: the effective screening bolus")
    sub.add_argument("--effect-h", type=int, help="starting_dose: how long its effect lasted")
    sub.add_argument("--days", type=int, help="taper: over how many days (%d-%d)"
                     % (_HOLIDAY["taper_min_days"], _HOLIDAY["taper_max_days"]))
    sub.add_argument("--hours", type=int, help="csf_curve: how far ahead")
    sub.add_argument("--effects", nargs="+", type=step, metavar="HH:MM=MCG_PER_H",
                     help="flex_preview: the rate wanted from each time of effect")
    sub.add_argument("--week-effects", action="append", nargs="+", metavar="DAYS HH:MM=MCG_PER_H",
                     help="flex_week_preview: days (mon, mon-fri, sat,sun) and the rate wanted from each "
                          "time of effect; repeat until every day is given")
    sub = command("bench", "inject a fault for a bench test (bench-enable jumper only; `clear` undoes it)",
                  "bench", lambda a: present(fault=a.fault, mpsi=a.mpsi, mv=a.mv, mc=a.mc, min=a.min))
    sub.add_argument("fault", choices=choices("bench", "fault"))
    sub.add_argument("--mpsi", type=int, help="line pressure in mpsi, for the pressure fault")
    sub.add_argument("--mv", type=int, help="VSYS in mV, for the low_battery fault")
    sub.add_argument("--mc", type=int, help="board temperature in milli-degC, for the temperature fault")
    sub.add_argument("--min", type=int, help="how long the power was off, in minutes, for the outage fault")
    return parser


def missing_plan_options(options):
    """'plan WHAT needs --OPTION ...' when options WHAT needs were left out, else None."""
    missing = [option for option in dict(PLAN_NEEDS)[options.what]
               if getattr(options, option[2:].replace("-", "_")) is None]
    if missing:
        return "plan %s needs %s" % (options.what, " and ".join(missing))
    return week_problem(options.week_effects, "--week-effects")


def single_bolus_options(sub, command, required=False):
    sub.add_argument("--then", choices=choices(command, "then"), required=required,
                     help="after it: stopped-pump mode (give --reason) or the programmed schedule")
    sub.add_argument("--reason", help="why the pump stops after it (with --then stop; logged)")


def show_card(reply, options):
    """The card as text (and as a PNG when asked)."""
    if options.png:
        card.png(reply, options.png)
    return card.text(reply)


def open_serial(port, baud):
    try:
        return serial.serial_for_url(port, baudrate=baud, timeout=0.1)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise LinkError("cannot open %s: %s" % (port, exc))


def text_of(value):
    if value is None:
        return "-"
    if value is True or value is False:
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


# MicroPython's json writes a dict's keys in hash order: show the telling ones first.
FIRST = ("time", "seq", "event", "detail", "note", "kind", "priority", "state", "delivering", "stopped_for", "stop", "stopped_since",
         "stopped_minutes", "not_delivered_mcg", "rate_mcg_per_h",
         "daily_mcg", "remaining_ml", "alarms", "active", "verdict", "start", "for_effect_at", "day", "hour")


def in_order(names):
    return sorted(names, key=lambda name: (FIRST.index(name) if name in FIRST else len(FIRST), name))


def render(reply):
    """A reply as people read it: `name  value` rows, then one table per list of objects."""
    rows, tables = [], []

    def collect(name, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                collect(name + "." + key, inner)
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            tables.append((name, value))
        elif isinstance(value, list):
            rows.append((name, ", ".join(text_of(item) for item in value) or "-"))
        else:
            rows.append((name, text_of(value)))

    for key in in_order(reply):
        if key != "ok":
            collect(key, reply[key])
    out = []
    width = max((len(name) for name, _ in rows), default=0)
    out.extend("%-*s  %s" % (width, name, text) for name, text in rows)
    for name, items in tables:
        columns = []
        for item in items:
            columns.extend(key for key in item if key not in columns)
        columns = in_order(columns)
        cells = [[text_of(item.get(key)) for key in columns] for item in items]
        widths = [max(len(column), *(len(row[i]) for row in cells)) for i, column in enumerate(columns)]
        out.append("")
        out.append(name)
        out.append("  ".join(column.ljust(w) for column, w in zip(columns, widths)).rstrip())
        out.extend("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in cells)
    return "\n".join(out) if out else "done"


def main(argv=None, open_port=open_serial):
    parser = build_parser()
    options = parser.parse_args(argv)
    if not options.port:
        parser.error("give --port (or set PUMPCTL_PORT)")
    if needs_mac(options.wire) and not options.key_file:
        parser.error("%s changes the pump: give --key-file (or set PUMPCTL_KEY_FILE)" % options.command)
    problem = options.usage_problem(options)
    if getattr(options, "export", None):
        try:
            logexport.export_format(options.export)
        except logexport.ExportError as exc:
            problem = str(exc)
    if problem:
        parser.error(problem)
    args = options.build(options)
    try:
        key = read_key_file(options.key_file) if options.key_file else None
        counter = CounterFile(options.counter_file) if options.counter_file else None
        port = open_port(options.port, options.baud)
    except LinkError as exc:
        return fail(exc, EXIT_LINK)
    try:
        link = PumpLink(port, key, counter, options.timeout)
        if getattr(options, "export", None):
            entries = logexport.fetch_all(lambda page: link.request("log", page)[0])
            logexport.write(entries, options.export)
            print("%d event-log entries written to %s" % (len(entries), options.export))
            return EXIT_OK
        reply, raw = link.request(options.wire, args)
    except PumpRefused as exc:
        if options.json:
            print(exc.raw)
        hint = ""
        if exc.code == "replay" and counter is not None:
            hint = " (the counter file is behind the pump: leave out --counter-file to use the pump's counter)"
        return fail("the pump refused %s: %s: %s%s" % (options.command, exc.code, exc.message, hint), EXIT_REFUSED)
    except NoAnswer as exc:
        return fail("%s on %s: is the pump connected and running?" % (exc, options.port), EXIT_NO_ANSWER)
    except ValueError as exc:
        return fail(exc, EXIT_USAGE)
    except (LinkError, serial.SerialException, OSError) as exc:
        return fail(exc, EXIT_LINK)
    finally:
        port.close()
    try:
        print(raw if options.json else options.show(reply, options))
    except OSError as exc:  # the PNG could not be written
        return fail(exc, EXIT_LINK)
    return EXIT_OK


def fail(message, code):
    print("pumpctl: %s" % message, file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
