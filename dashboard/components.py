"""Pure builders for the monitor's controls: alarms panel, pipeline banner, pre-session
checklist, verdict, cues and discharge. Frames and values in, Dash components out; no store,
no request, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

import pandas as pd
from dash import dcc, html

from dashboard import ids
from dashboard.auth import CSRF_FIELD, LOGOUT_PATH, refused_layout
from dashboard.texts import ALARM_LABEL, METRIC_LABEL, alarm_text, ended_text, missing
from vitals.alerts import AlertEvent, AlertState, Metric
from vitals.checklist import CONTRAINDICATIONS, GUIDELINES
from vitals.readings import MAX_NOTE_CHARS
from vitals.sessions import (
    Cue,
    CueKind,
    DischargeReadiness,
    PresessionVerdict,
    Verdict,
)
from vitals.storage.base import NotificationRecord
from vitals.timefmt import local_time
from vitals.users import Role

# Ending a session clears its alarms: with any present, only this role (or one above) may.
END_WITH_ALARMS: Final = Role.CLINICIAN

def label_of(row: Mapping[str, Any]) -> str | None:
    """A row's (tile's, alarm's) display label, None where it has none (None or NaN)."""
    return None if missing(row.get("label")) else str(row["label"]) or None


def session_name(session: str, label: str | None) -> list[Any]:
    """A session as the tiles, the alarms panel and the session page name it: its display label
    ("Chair 3 · AB"), the id smaller beside it; the id alone without a label."""
    if not label:
        return [session]
    return [label, " ", html.Span(session, className="session-id")]


# --- pipeline health ---------------------------------------------------------------------------


def pipeline_problem(silent_s: float | None, store_error: str | None = None,
                     extra: str | None = None) -> str | None:
    """Why the screen cannot be trusted right now, or None when the pipeline looks healthy.

    `silent_s`: `queries.pipeline_silence`, set only when every stream of every active session
    is overdue (with none active, no data is expected; with one device silent, its session has
    the technical alarm).
    """
    if store_error:
        return f"Cannot read the database: {store_error} — values are not updating"
    if extra:
        return extra
    if silent_s is not None:
        return (f"No data from the ingest for {silent_s:.0f} s, from any device of any session "
                "— check the pipeline (broker, ingest worker)")
    return None


def banner(problem: str | None) -> list[Any]:
    if problem is None:
        return []
    return [html.Div(["▲ PIPELINE — ", problem], className="pipeline-banner", role="alert")]


# --- alarms ------------------------------------------------------------------------------------

SOUNDING: Final = ("high", "medium")

# Keyboard shortcuts (`assets/shortcuts.js`): the controls carry them as `aria-keyshortcuts`.
SHORTCUT_ACK: Final = "a"  # the most urgent unacknowledged alarm: the panel's first button
SHORTCUT_PAUSE: Final = "p"  # pause the audio, or resume it while paused
SHORTCUTS_HINT: Final = (f"Keys: {SHORTCUT_ACK.upper()} acknowledges the top alarm, "
                         f"{SHORTCUT_PAUSE.upper()} pauses or resumes audio")


def sound_level(alarms: pd.DataFrame) -> str | None:
    """The tone to play: the highest unacknowledged high or medium alarm (low alarms are silent,
    as on bedside monitors)."""
    if alarms.empty:
        return None
    waiting = alarms[(alarms["state"] == "active") & alarms["priority"].isin(SOUNDING)]
    if waiting.empty:
        return None
    return str(waiting.sort_values("rank", ascending=False).iloc[0]["priority"])


def alarms_signature(alarms: pd.DataFrame) -> str:
    """Changes exactly when the panel would: an unchanged panel is not re-rendered, so a note
    being typed into it survives the refresh."""
    if alarms.empty:
        return ""
    return "|".join(f"{a['session']}/{a.get('label')}/{a['metric']}/{a.get('rule')}/"
                    f"{a['priority']}/{a['state']}/{a['time']}/{a.get('ended')}"
                    for a in alarms.to_dict("records"))


def alarms_panel(alarms: pd.DataFrame, can_ack: bool, now: datetime | None = None,
                 zone: tzinfo = UTC) -> list[Any]:
    """Active and acknowledged alarms across sessions, each with its acknowledge control, times
    on the clinic's clock (`zone`, with its abbreviation).

    With `now`, no clock time shown is after it: a time-compressed simulation (or a device
    clock ahead of ours) stamps alarms ahead of the wall clock, and "since" a time still to
    come reads as nonsense; such an alarm is "since" now."""
    if alarms.empty:
        return [html.Div("✓ No alarms in any active session", className="alarms-none")]
    rows = []
    shortcut = {"aria-keyshortcuts": SHORTCUT_ACK}  # on the first button only
    for alarm in alarms.to_dict("records"):
        session, metric, priority = alarm["session"], alarm["metric"], alarm["priority"]
        # A technical alarm is one per rule (`AlarmKey`); a clinical one is its metric's.
        rule = str(alarm.get("rule") or "") if metric == Metric.DATA.value else ""
        acked = alarm["state"] == "acknowledged"
        # A clock time, not "12 s ago": the panel is re-rendered only when an alarm changes
        # (so a note being typed survives), and a relative age would freeze where it was drawn.
        at = alarm["time"] if now is None else min(alarm["time"], pd.Timestamp(now))
        since = f"since {local_time(at, zone)}"
        label = ALARM_LABEL.get(priority, priority.upper())
        body: list[Any] = [
            html.Span(label, className=f"prio prio--{priority}"),
            dcc.Link(session_name(session, label_of(alarm)),
                     href=f"/session/{session}", className="alarm-session"),
            html.Span(METRIC_LABEL.get(metric, metric), className="alarm-metric"),
            html.Span(alarm["message"], className="alarm-message"),
            html.Span(since, className="alarm-age"),
        ]
        ended = alarm.get("ended")
        if ended is not None and not pd.isna(ended):  # latched, its cause gone
            body.append(html.Span(ended_text(ended, zone), className="alarm-ended"))
        if acked:
            who = alarm["by"] if isinstance(alarm["by"], str) else "someone"
            note = f" — “{alarm['note']}”" if isinstance(alarm["note"], str) and alarm["note"] \
                else ""
            body.append(html.Span(f"✔ acknowledged by {who} at {local_time(at, zone)}{note}",
                                  className="alarm-acked"))
        elif can_ack:
            key = {"session": session, "metric": metric, "rule": rule}
            body += [
                dcc.Input(id={"type": ids.ACK_NOTE, **key}, placeholder="note (optional)",
                          maxLength=200, className="ack-note", debounce=False),
                html.Button("Acknowledge", id={"type": ids.ACK_BUTTON, **key},
                            className=f"ack-button ack-button--{priority}", n_clicks=0,
                            **shortcut),
            ]
            shortcut = {}
        rows.append(html.Div(
            body, id=ids.alarm_row(session, metric, rule), role="alert" if not acked else None,
            className=f"alarm alarm--{priority}" + (" alarm--acked" if acked else ""),
        ))
    return rows


def alarms_summary(alarms: pd.DataFrame) -> html.Div:
    """The alarm strip's headline: how many alarms are present, how many of each priority and
    how many still wait for an acknowledgement, in the highest priority's colour. It stays in
    view when the strip's list scrolls (`alarm_strip`), so no alarm is out of sight unsaid."""
    records = alarms.to_dict("records")
    top = records[0]["priority"]  # `queries.alarms_frame`: most urgent first
    counts = [f"{n} {priority}" for priority in ALARM_LABEL
              if (n := sum(a["priority"] == priority for a in records))]
    waiting = sum(a["state"] != "acknowledged" for a in records)
    plural = "alarm" if len(records) == 1 else "alarms"
    return html.Div(
        f"{ALARM_LABEL.get(top, top.upper())} · {len(records)} {plural} "
        f"({', '.join(counts)}) · {waiting} unacknowledged",
        className=f"alarms-summary alarms-summary--{top}")


def alarm_strip(alarms: pd.DataFrame, can_ack: bool, now: datetime | None = None,
                zone: tzinfo = UTC) -> list[Any]:
    """The shell's alarms: the headline (`alarms_summary`) above the rows (`alarms_panel`),
    most urgent first. The page's CSS bounds the rows' height (they scroll, the headline and
    the most urgent row stay in view) until the monitor expands the strip."""
    if alarms.empty:
        return alarms_panel(alarms, can_ack, now, zone)
    return [alarms_summary(alarms),
            html.Div(alarms_panel(alarms, can_ack, now, zone), className="alarms-list")]


# --- who was notified -----------------------------------------------------------------------------


def notification_log(session: str, records: Sequence[NotificationRecord],
                     zone: tzinfo = UTC) -> list[Any]:
    """Per alarm (metric), the notifier's messages about it, newest first: when, to whom, by
    which channel, and delivered or the error, a failure marked."""
    if not records:
        return [html.Div("No notification sent about this session's alarms.", className="muted")]
    by_metric: dict[str, list[NotificationRecord]] = {}
    for record in sorted(records, key=lambda r: r.time, reverse=True):
        by_metric.setdefault(record.metric, []).append(record)
    groups = []
    for metric, told in by_metric.items():
        rows = [html.Li([
            html.Span(local_time(r.time, zone), className="notified-time"),
            f" {r.person} by {r.channel}",
            " (all clear)" if r.kind == "all_clear" else "",
            html.Span(" ✔ delivered" if r.delivered
                      else f" ✖ failed: {r.error or 'delivery failed'}",
                      className="notified-ok" if r.delivered else "notified-failed"),
        ], className="notified" + ("" if r.delivered else " notified--failed")) for r in told]
        groups.append(html.Div(id=ids.notification_group(session, metric),
                               className="notified-group", children=[
            html.Strong(f"{METRIC_LABEL.get(metric, metric)} alarm"), html.Ul(rows)]))
    return groups


# --- ending a session ---------------------------------------------------------------------------


def end_confirmation(session: str, present: Sequence[AlertEvent],
                     zone: tzinfo = UTC) -> list[Any]:
    """What the "End session" confirmation says: the alarms present (`present_alarms`), the
    unacknowledged ones marked, and who may end with them present."""
    if not present:
        return [html.P(f"End session {session}? No alarm is present. Its tile leaves the "
                       "overview; readings that still arrive raise a technical alarm.")]
    unacked = sum(a.state is AlertState.ACTIVE for a in present)
    return [
        html.P(f"End session {session}? {len(present)} alarm(s) present, {unacked} not "
               "acknowledged: ending clears them all.", className="end-warning"),
        html.Ul(className="end-alarms", children=[
            html.Li(alarm_text(a.priority.value, a.message, a.metric.value, ended=a.ended,
                               zone=zone)
                    + (" — NOT acknowledged" if a.state is AlertState.ACTIVE
                       else f" — acknowledged by {a.by or 'someone'}"),
                    className=f"alarm alarm--{a.priority.value}")
            for a in present
        ]),
        html.P(f"Only a {END_WITH_ALARMS.value} or admin may end a session with alarms present, "
               "with a written reason.", className="muted"),
    ]


def end_refusal(present: Sequence[AlertEvent], may_end_with_alarms: bool,
                reason: str | None) -> str | None:
    """Why the session must not end now, or None: with an alarm present, only a role allowing
    `END_WITH_ALARMS` may end it, and only with a written reason."""
    if not present:
        return None
    if not may_end_with_alarms:
        return (f"⚠ Not ended: {len(present)} alarm(s) present. Only a "
                f"{END_WITH_ALARMS.value} or admin can end a session with alarms present: call "
                "the clinician, or deal with the alarms first.")
    if not reason:
        return (f"⚠ Not ended: {len(present)} alarm(s) present. Write the reason for ending "
                "with them present first.")
    return None


def end_note(present: Sequence[AlertEvent], reason: str | None) -> str | None:
    """The end event's note: the reason and the alarms it cleared (the audit trail)."""
    if not present:
        return reason
    alarms = ", ".join(f"{a.metric.value} {a.priority.value} {a.state.value}" for a in present)
    return f"{reason} [alarms present at the end: {alarms}]"[:MAX_NOTE_CHARS]


# --- pre-session checklist ---------------------------------------------------------------------


def checklist_form() -> html.Div:
    """The checklist's inputs (static: a refresh must not reset what is being ticked)."""
    return html.Div(className="checklist", children=[
        html.H4("Session guidelines (tick what is confirmed)"),
        dcc.Checklist(id=ids.CHECKLIST_GUIDELINES, className="check-list",
                      options=[{"label": i.label, "value": i.key} for i in GUIDELINES],
                      value=[], labelClassName="check-item"),
        html.H4("Contraindications (tick any that apply: do not proceed)"),
        dcc.Checklist(id=ids.CHECKLIST_CONTRAINDICATIONS, className="check-list",
                      options=[{"label": i.label, "value": i.key} for i in CONTRAINDICATIONS],
                      value=[], labelClassName="check-item"),
        html.Button("Record checklist", id=ids.CHECKLIST_SUBMIT, className="action", n_clicks=0),
    ])


VERDICT_TEXT: Final[Mapping[Verdict, str]] = {
    Verdict.PENDING: "… PENDING",
    Verdict.GO: "✓ GO",
    Verdict.CAUTION: "◆ CAUTION",
    Verdict.NO_GO: "✖ NO-GO",
}


def verdict_box(combined: PresessionVerdict, checklist_recorded: str | None,
                override: str | None) -> html.Div:
    """The go / caution / no-go verdict: the session status's one protocol verdict
    (`vitals.sessions.protocol_verdict`: the vitals with the checklist's findings, pending
    while no checklist is recorded)."""
    verdict, reasons = combined.verdict, list(combined.reasons)
    children: list[Any] = [
        html.Div(VERDICT_TEXT[verdict], className=f"verdict verdict--{verdict.value}"),
        html.Ul([html.Li(r) for r in reasons]) if reasons else None,
        html.Div(checklist_recorded or "Checklist not recorded yet.", className="muted"),
    ]
    if override:
        children.append(html.Div(f"⚑ No-go overridden: {override}", className="override"))
    return html.Div(children, id=ids.VERDICT, className="verdict-box")


def cue_list(cues: Sequence[Cue], origin: datetime | None, zone: tzinfo = UTC) -> html.Ul:
    items = []
    for cue in cues:
        when = ""
        if cue.due is not None:
            when = f" — due {local_time(cue.due, zone, '%H:%M')}"
            if origin is not None:
                when += f" (dose +{(cue.due - origin).total_seconds() / 60:.0f} min)" \
                    if cue.kind is CueKind.REASSESSMENT else ""
        mark = "✓" if cue.done else "⚠ OVERDUE" if cue.overdue else "•"
        items.append(html.Li(f"{mark} {cue.message}{when}",
                             className="cue" + (" cue--overdue" if cue.overdue else "")))
    return html.Ul(items, className="cues")


def discharge_box(readiness: DischargeReadiness, signed_off: str | None) -> html.Div:
    header = ("✓ Discharge criteria met — clinician sign-off pending" if readiness.ready
              else "✖ Not ready for discharge")
    if signed_off and readiness.ready:
        header = f"✔ Discharge signed off: {signed_off}"
    elif signed_off:  # never green: signed with criteria unmet is an override, with its reason
        header = f"⚑ Discharge signed off as an OVERRIDE, criteria not met: {signed_off}"
    head_class = ("discharge-head--override" if signed_off and not readiness.ready
                  else "discharge-head--ready" if readiness.ready else "")
    return html.Div(id=ids.DISCHARGE, className="discharge", children=[
        html.Div(header, className=f"discharge-head {head_class}".strip()),
        html.Ul([html.Li(("✓ " if c.met else "✖ ") + c.detail,
                         className="criterion" + ("" if c.met else " criterion--unmet"))
                 for c in readiness.criteria]),
        html.Div(readiness.reminder, className="reminder", role="note"),
    ])


def logout_form(csrf_token: str) -> html.Form:
    """The header's "Log out": a POST with the session's CSRF token, so that no link on another
    site can log the monitor out of the alarms."""
    return html.Form(method="post", action=LOGOUT_PATH, className="logout-form", children=[
        dcc.Input(type="hidden", name=CSRF_FIELD, value=csrf_token, id=ids.LOGOUT_TOKEN),
        html.Button("Log out", type="submit", id=ids.LOGOUT_BUTTON, className="nav-link"),
    ])


def refused_page(page: str, title: str, reason: str) -> html.Div:
    """What a page shows to a role it is not for (`auth.refused_layout`): its title and why."""
    return html.Div(className=f"page page--{page}", children=[
        html.H2(title),
        html.Div(reason, className="error", role="alert"),
    ])


def restricted_page(role: Role, page: str, title: str, reason: str, children: Sequence[Any],
                    heading: str | None = None) -> html.Div:
    """The layout of a page that needs `role`: its heading (else its title) over `children`, or
    for a user whose role does not allow `role` only its title and `reason` (`refused_page`)."""
    if refused_layout(role):
        return refused_page(page, title, reason)
    return html.Div(className=f"page page--{page}",
                    children=[html.H2(heading or title), *children])
