"""The refill-visit card laid out: as text, and as a one-page PNG.

Both come from the pump's `card` reply (firmware/pump/card.py says what is
in it and how the dates are projected), so `pumpctl card` and
`tools/sim.py --card` print the same card for the same pump.
"""
import datetime

WARNING = ("Keep the refill visit: if the pump runs dry the drug stops abruptly, "
           "and baclofen withdrawal can be life-threatening.")
PAGE_IN = (8.27, 11.69)  # A4 portrait
STEPS_PER_LINE = 5


def when(iso):
    """'2026-03-24T13:10:07' -> 'Tue 2026-03-24 13:10'; None -> None."""
    if iso is None:
        return None
    moment = datetime.datetime.fromisoformat(iso)
    return moment.strftime("%a %Y-%m-%d %H:%M")


def mcg(value):
    return "%g" % value


def program_lines(card):
    """The program: a heading, then one line per day (or one for every day)."""
    if card["program"] is None:
        return ["Program        none: the pump is not programmed"]
    if card["program"] == "weekly":
        lines = ["Program        weekly, %s mcg a week" % mcg(card["week_mcg"])]
    else:
        lines = ["Program        daily, %s mcg a day" % mcg(card["days"][0]["daily_mcg"])]
    for day in card["days"]:
        steps = ["%s %s mcg/h" % (s["start"], mcg(s["mcg_per_h"])) for s in day["steps"]]
        head = "  %-9s %8s mcg/day   " % (day["day"], mcg(day["daily_mcg"]))
        for i in range(0, len(steps), STEPS_PER_LINE):  # a 13-step day takes three lines
            lines.append((head if i == 0 else " " * len(head)) + "  ".join(steps[i:i + STEPS_PER_LINE]))
    return lines


def date_lines(card):
    if card["empty_at"] is None:
        why = "not programmed" if card["state"] == "not programmed" else "stopped"
        lines = ["Empty          - (the pump is %s: no projection)" % why]
        if card.get("stopped_since"):
            lines.append("Stopped        since %s (%s), %s mcg not delivered"
                         % (when(card["stopped_since"]), card["stop"], mcg(card["not_delivered_mcg"])))
        return lines
    low_now = card["low_alarm_at"] <= card["time"]  # ISO times of one clock compare as text
    passed = card["refill_by"] < card["time"]
    return ["Empty          %s (projected)" % when(card["empty_at"]),
            "Low alarm      %s" % ("now: the reservoir is low" if low_now else when(card["low_alarm_at"])),
            "Refill by      %s (%d days before empty: the alarm's lead)"
            % (when(card["refill_by"]), card["alarm_lead_days"])] + (["               PASSED: refill now"] if passed else [])


def text(card):
    """The card as lines of text, for a terminal or a printer."""
    lines = ["REFILL-VISIT CARD%s" % when(card["time"]).rjust(61),
             "Pump           serial %s, firmware %s" % (card["serial"], card["firmware"]),
             "",
             "Drug           %s, %s mcg/mL" % (card["drug"], mcg(card["concentration_mcg_per_ml"]))]
    lines += program_lines(card)
    lines += ["Reservoir      %.3f mL of %s mL" % (card["reservoir_ml"], mcg(card["capacity_ml"]))]
    lines += date_lines(card)
    lines += ["", WARNING]
    return "\n".join(lines)


def rate_curve(card):
    """(hours, mcg/h) corners of the program over its period (a day or a
    week), for the picture; the night before runs on until a day's first step."""
    days = card["days"]
    points = []
    for index, day in enumerate(days):
        before = days[index - 1]["steps"][-1]["mcg_per_h"]
        points.append((24 * index, before))
        for step in day["steps"]:
            hour = 24 * index + int(step["start"][:2]) + int(step["start"][3:]) / 60
            points.append((hour, step["mcg_per_h"]))
    points.append((24 * len(days), points[-1][1]))
    return points


def png(card, path):
    """The card as a one-page A4 PNG at `path`: the text, and the program as
    a rate curve over its day or week."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure = pyplot.figure(figsize=PAGE_IN, dpi=100)
    body = text(card).split("\n")
    figure.text(0.06, 0.96, "\n".join(body[:-1]), family="monospace", fontsize=9, va="top")
    figure.text(0.06, 0.06, body[-1], fontsize=10, weight="bold", wrap=True)
    if card["days"]:
        axes = figure.add_axes((0.1, 0.18, 0.82, 0.3))
        hours, rates = zip(*rate_curve(card))
        axes.step(hours, rates, where="post")
        axes.set_ylim(0, max(rates) * 1.2)
        axes.set_xlim(0, hours[-1])
        if card["program"] == "weekly":
            axes.set_xticks([24 * i + 12 for i in range(7)], [day["day"] for day in card["days"]])
        else:
            axes.set_xticks(range(0, 25, 3), ["%02d:00" % h for h in range(0, 25, 3)])
        axes.set_ylabel("mcg/h")
        axes.set_title("The program (%s)" % card["program"], fontsize=10)
        axes.grid(alpha=0.3)
    figure.savefig(path)
    pyplot.close(figure)
