"""The alarm-burden report: a terminal table and a self-contained HTML page with its plots.

Pure: each function turns a `BurdenSummary` into text (or a plotly figure); the caller writes it.
Every value placed in the page is escaped; the plots are plotly's own `to_html`.
"""

from __future__ import annotations

import html
from string import Template
from typing import Final

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from simulators.burden import CRISIS_DIASTOLIC, CRISIS_SYSTOLIC, BurdenSummary, RuleBurden
from vitals.alerts import Priority

# IEC 60601-1-8 as the dashboard shows it: high red, medium yellow, low cyan.
PRIORITY_COLOURS: Final = {Priority.HIGH: "#d62728", Priority.MEDIUM: "#e8b400",
                           Priority.LOW: "#17becf"}
RULE_COLUMNS: Final = ("rule", "priority", "alarms / session", "sessions with it",
                   "minutes in alarm / session")


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _percent(share: float) -> str:
    return f"{100 * share:.1f} %"


def headline(summary: BurdenSummary) -> list[tuple[str, str]]:
    """The population-wide figures, as (label, value) rows."""
    ack = ("nobody acknowledges" if summary.ack_after_minutes is None
           else f"each medium/high alarm after {summary.ack_after_minutes:g} min")
    crisis = summary.crisis_patients
    return [
        ("profile", summary.profile),
        ("patients (seed)", f"{summary.patients} ({summary.seed})"),
        ("monitor acknowledges", ack),
        ("alarms per session", _fmt(summary.alarms_per_session)),
        ("sessions with any alarm", _percent(summary.share_with_any_alarm)),
        ("sessions with a high alarm", _percent(summary.share_with_high_alarm)),
        ("minutes in alarm per session", _fmt(summary.minutes_in_alarm_per_session, 1)),
        (f"true crisis (>= {CRISIS_SYSTOLIC:g}/{CRISIS_DIASTOLIC:g}, noise-free)",
         f"{crisis} patient(s), {crisis - summary.crisis_without_high_alarm} with a high BP "
         "alarm"),
        ("delay to the first high BP alarm, median (max)",
         f"{_fmt(summary.median_crisis_delay, 1)} ({_fmt(summary.max_crisis_delay, 1)}) min"),
    ]


def rule_rows(summary: BurdenSummary) -> list[tuple[str, str, str, str, str]]:
    return [(row.rule, row.priority.value, _fmt(row.alarms_per_session, 3),
             _percent(row.share_of_sessions), _fmt(row.minutes_per_session))
            for row in summary.rows]


def format_table(summary: BurdenSummary) -> str:
    """The report for a terminal: the headline, then one line per rule and priority."""
    top = headline(summary)
    label_width = max(len(label) for label, _ in top)
    lines = [f"{label:<{label_width}}  {value}" for label, value in top]
    rows = rule_rows(summary)
    widths = [max(len(column), *(len(row[i]) for row in rows)) if rows else len(column)
              for i, column in enumerate(RULE_COLUMNS)]
    lines.append("")
    lines.append("  ".join(f"{c:<{w}}" if i < 2 else f"{c:>{w}}"
                           for i, (c, w) in enumerate(zip(RULE_COLUMNS, widths, strict=True))))
    for row in rows:
        lines.append("  ".join(f"{v:<{w}}" if i < 2 else f"{v:>{w}}"
                               for i, (v, w) in enumerate(zip(row, widths, strict=True))))
    if not rows:
        lines.append("(no alarms)")
    return "\n".join(lines)


def figure(summary: BurdenSummary) -> go.Figure:
    """Alarms per session by rule (coloured by priority), and the crisis delays."""
    alarmed = summary.crisis_patients - summary.crisis_without_high_alarm
    fig = make_subplots(
        rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.2,
        subplot_titles=("Alarms per session, by rule and priority",
                        f"True crisis: minutes to the first high BP alarm "
                        f"({alarmed} of {summary.crisis_patients})"))

    def label(row: RuleBurden) -> str:
        return f"{row.rule} ({row.priority.value})"

    for priority in Priority:
        rows = [row for row in summary.rows if row.priority is priority]
        if rows:
            fig.add_trace(go.Bar(
                x=[row.alarms_per_session for row in rows],
                y=[label(row) for row in rows],
                orientation="h", name=priority.value,
                marker_color=PRIORITY_COLOURS[priority],
                customdata=[[_percent(row.share_of_sessions), _fmt(row.minutes_per_session)]
                            for row in rows],
                hovertemplate="%{y}: %{x:.3f} per session, in %{customdata[0]} of sessions, "
                              "%{customdata[1]} min in alarm<extra></extra>",
            ), row=1, col=1)
    fig.add_trace(go.Histogram(
        x=list(summary.crisis_delays_minutes), name="crisis delay", showlegend=False,
        marker_color=PRIORITY_COLOURS[Priority.HIGH], xbins={"size": 1},
    ), row=1, col=2)
    # The table's order from the top: high first, then the most frequent.
    fig.update_yaxes(categoryorder="array",
                     categoryarray=[label(row) for row in reversed(summary.rows)], row=1, col=1)
    fig.update_xaxes(title_text="alarms per session", row=1, col=1)
    fig.update_xaxes(title_text="minutes after the true crossing", row=1, col=2)
    fig.update_yaxes(title_text="patients", row=1, col=2)
    fig.update_layout(
        title=(f"Alarm burden of profile {summary.profile}: {summary.patients} simulated "
               f"patients, {_percent(summary.share_with_high_alarm)} of sessions with a high "
               "alarm"),
        barmode="stack", height=max(420, 28 * len(summary.rows) + 160), width=1200,
        legend={"title": {"text": "priority"}}, template="plotly_white",
        margin={"l": 220, "r": 30, "t": 90, "b": 60},
    )
    return fig


_PAGE: Final = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Alarm burden: $profile</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { padding: 0.25rem 0.75rem; border-bottom: 1px solid #ddd; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
p.note { max-width: 60rem; color: #555; }
</style>
</head>
<body>
<h1>Alarm burden: profile $profile</h1>
<p class="note">A simulated population replayed through the alarm engine (decision support
only, not a certified medical device). The patients are drawn from the distributions in
simulators/population.toml; the figures describe the simulator, not a clinic.</p>
<table>$headline</table>
<h2>Per rule and priority</h2>
<table><tr>$columns</tr>$rows</table>
$figure
</body>
</html>
""")


def to_html(summary: BurdenSummary) -> str:
    """A self-contained page (plotly's script inlined): the tables and the figure."""
    e = html.escape
    top = "".join(f"<tr><th>{e(label)}</th><td>{e(value)}</td></tr>"
                  for label, value in headline(summary))
    columns = "".join(f"<th>{e(column)}</th>" for column in RULE_COLUMNS)
    rows = "".join(
        "<tr>" + "".join(f'<td class="number">{e(v)}</td>' if i >= 2 else f"<td>{e(v)}</td>"
                         for i, v in enumerate(row)) + "</tr>"
        for row in rule_rows(summary))
    return _PAGE.substitute(
        profile=e(summary.profile), headline=top, columns=columns, rows=rows,
        figure=figure(summary).to_html(full_html=False, include_plotlyjs=True),
    )
