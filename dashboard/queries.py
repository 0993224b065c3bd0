"""The overview's data from the live snapshot: one row per session (latest values, ages,
staleness, dose, top alarm), the most urgent sessions, the alarms panel's frame, and whether the
whole pipeline is silent. Pure over `Store.live`; `figures.py` renders the rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import pandas as pd

from dashboard.app_context import DEFAULT_ACTIVE_WINDOW
from dashboard.frames import utc_times
from vitals.alerts import AlertEvent, AlertState, Metric
from vitals.profile import source_label
from vitals.readings import Reading, SessionEvent, SessionEventType
from vitals.sessions import (
    alarm_urgency,
    has_ended,
    present_alarms,
    session_clock,
    session_label,
)
from vitals.storage.base import Live, SessionSummary, Store
from vitals.vital_signs import SIGNS, VITAL_SIGNS, Kind

log = logging.getLogger(__name__)


# A value is stale when older than the guidance expects (`VitalSign.stale_after`).
STALE_AFTER: Final[Mapping[Kind, timedelta]] = {k: s.stale_after for k, s in SIGNS.items()}

# The default profile's heart-rate sources in rank order; pages pass the profile's in force.
HR_SOURCES: Final = ("hr.bpm", "spo2.pulse", "bp.pulse")

# Per vital sign: its measures' values (by metric: "systolic", "heart_rate" ...) and its
# reading's time, age and staleness (by kind: "bp_time" ...); heart rate also names its device.
OVERVIEW_COLUMNS: Final = (
    "session", "label", "first_time", "dosed", "since_dose_min",
    *(column for sign in VITAL_SIGNS for column in (
        *(m.metric.value for m in sign.measures),
        *(f"{sign.kind}_{part}" for part in ("time", "age_s", "stale")),
        *(("hr_source",) if sign.kind is Kind.HR else ()))),
    "alarm_priority", "alarm_metric", "alarm_message", "alarm_count", "alarm_acked_by",
    "alarm_value", "alarm_now", "alarm_ended", "alarm_levels",
    "checkin_last", "checkin_by", "checkin_reference",
)


def overview_rows(
    live: Live,
    now: datetime,
    stale_after: Mapping[Kind, timedelta] = STALE_AFTER,
    hr_sources: Sequence[str] = HR_SOURCES,
) -> list[dict[str, Any]]:
    """One row (`OVERVIEW_COLUMNS`) per session of `live` (`active`): latest values, their ages
    and staleness, dose, top alarm, check-in. Heart rate from `hr_sources` ("kind.field", in
    rank order, `heart_rate_shown`).

    From one `Store.live` read whatever the number of sessions, and plain dicts, no frame: a
    wall screen of 48 rooms refreshes every half second.
    """
    # Alarming sessions first (`tile_severity`), then in start order, then by id: a tile moves
    # only when its severity changes, never on a new reading or a re-raised alarm.
    summaries = sorted(live.sessions, key=lambda s: (
        tile_severity(live.alerts.get(s.session, [])), s.started or s.first_time, s.session))
    return [
        _overview_row(summary, live.latest.get(summary.session, {}),
                      live.events.get(summary.session, []), live.alerts.get(summary.session, []),
                      now, stale_after, hr_sources)
        for summary in summaries
    ]


def tile_severity(alerts: Sequence[AlertEvent]) -> tuple[bool, int, bool, bool]:
    """Sort key of a session's tile, most severe first: by its most urgent alarm present
    (`alarm_urgency` without the alarm's time: priority, clinical before technical, waiting
    before acknowledged); a session without one comes after every alarming session."""
    present = present_alarms(alerts)
    if not present:
        return (True, 0, False, False)
    priority, technical, acknowledged, _newest = alarm_urgency(present[0])
    return (False, priority, technical, acknowledged)


def _overview_row(
    summary: SessionSummary,
    latest: Mapping[Kind, Reading],
    events: Sequence[SessionEvent],
    alerts: Sequence[AlertEvent],
    now: datetime,
    stale_after: Mapping[Kind, timedelta],
    hr_sources: Sequence[str],
) -> dict[str, Any]:
    session = summary.session

    def times(kind: SessionEventType) -> list[datetime]:
        return sorted(e.time for e in events if e.event is kind)

    doses, starts = times(SessionEventType.DOSE), times(SessionEventType.START)
    dose = doses[0] if doses else None
    session_now = session_clock(now, summary.last_time)
    row: dict[str, Any] = {
        "session": session,
        "label": session_label(events),
        "first_time": summary.first_time,
        "dosed": dose,
        "since_dose_min": None if dose is None else age_seconds(session_now, dose) / 60,
    }
    hr_reading, hr_value, hr_source = heart_rate_shown(latest, now, stale_after, hr_sources)
    for sign in VITAL_SIGNS:
        reading = latest.get(sign.kind)
        if sign.kind is Kind.HR:  # the first fresh of the profile's ranked sources (issue 17)
            reading = hr_reading
            row["hr_source"] = None if hr_source is None else source_label(hr_source)
        fresh_after = stale_after[reading.kind if reading is not None else sign.kind]
        row.update(_latest_fields(sign.kind.value, reading, now, fresh_after))
        for measure in sign.measures:
            row[measure.metric.value] = (
                hr_value if measure.metric is Metric.HEART_RATE
                else reading.values.get(measure.field) if reading is not None else None)

    alarms = present_alarms(alerts)
    top = alarms[0] if alarms else None
    row.update(
        alarm_priority=None if top is None else top.priority.value,
        alarm_metric=None if top is None else top.metric.value,
        alarm_message=None if top is None else top.message,
        alarm_count=len(alarms),
        alarm_acked_by=(top.by or "someone" if top is not None
                        and top.state is AlertState.ACKNOWLEDGED else None),
        # The headline's value is the one that raised it; the latest one goes beside it.
        alarm_value=None if top is None else top.value,
        alarm_now=None if top is None else row.get(top.metric.value),
        alarm_ended=None if top is None else top.ended,
        # Each metric in alarm and its most urgent alarm's priority: the tile marks its value.
        alarm_levels={metric: priority for metric, priority in reversed(
            [(a.metric.value, a.priority.value) for a in alarms if a.metric is not Metric.DATA])},
    )
    checkins = sorted((e for e in events if e.event is SessionEventType.CHECKIN),
                      key=lambda e: e.time)
    last = checkins[-1] if checkins else None
    row.update(
        checkin_last=None if last is None else last.time,
        checkin_by=None if last is None else last.by,
        # No check-in yet: the countdown runs from the session's start (else its first data).
        checkin_reference=starts[-1] if starts else summary.first_time,
    )
    return row


def heart_rate_shown(
    latest: Mapping[Kind, Reading], now: datetime, stale_after: Mapping[Kind, timedelta],
    sources: Sequence[str],
) -> tuple[Reading | None, float | None, str | None]:
    """The heart rate a tile shows, as the rules judge it: the highest-ranked source whose
    latest reading is fresh, else (all stale) the newest. (reading, value, source) or Nones."""
    candidates: list[tuple[Reading, float, str]] = []
    for source in sources:
        kind, _, name = source.partition(".")
        reading = latest.get(Kind(kind))
        if reading is not None and name in reading.values:
            candidates.append((reading, reading.values[name], source))
    for reading, value, source in candidates:
        if age_seconds(now, reading.time) <= stale_after[reading.kind].total_seconds():
            return reading, value, source
    if not candidates:
        return None, None, None
    return max(candidates, key=lambda c: c[0].time)


def _latest_fields(prefix: str, reading: Reading | None, now: datetime,
                   stale_after: timedelta) -> dict[str, Any]:
    if reading is None:
        return {f"{prefix}_time": None, f"{prefix}_age_s": None, f"{prefix}_stale": True}
    age = age_seconds(now, reading.time)
    return {
        f"{prefix}_time": reading.time,
        f"{prefix}_age_s": age,
        f"{prefix}_stale": age > stale_after.total_seconds(),
    }


def age_seconds(now: datetime, then: datetime) -> float:
    """Seconds from `then` to `now` (both aware; a `pd.Timestamp` is one), never negative: a
    time-compressed simulator stamps readings slightly in the future, which is "just now", not
    minus a minute."""
    return max(0.0, (now - then).total_seconds())


ALARM_COLUMNS: Final = ("session", "label", "time", "metric", "rule", "priority", "rank",
                        "state", "value", "message", "by", "note", "ended")


def active(store: Store, now: datetime, window: timedelta = DEFAULT_ACTIVE_WINDOW) -> Live:
    """What the live pages show: the sessions with any reading or event within the window, not
    ended or with an alarm present (an end clears every alarm: what is present since is "readings
    after the session ended", which must not vanish with the tile), with their newest readings,
    events and alerts (`Store.live`)."""
    live = store.live(now - window)
    shown = [s for s in live.sessions if not has_ended(s.ended, s.started)
             or present_alarms(live.alerts.get(s.session, []))]
    names = {s.session for s in shown}
    return Live(shown, {k: v for k, v in live.latest.items() if k in names},
                {k: v for k, v in live.events.items() if k in names},
                {k: v for k, v in live.alerts.items() if k in names})


# The overview's tiles: what one screen can show and one refresh can render (a device
# publishing thousands of session ids must not blank the screen of the rooms really in use).
MAX_TILES: Final = 48


def most_urgent(live: Live, limit: int = MAX_TILES) -> tuple[Live, int]:
    """At most `limit` sessions of `live`: those with the most urgent alarm present first
    (`alarm_urgency`), then the most recently active. A crowd of quiet sessions never pushes an
    alarming one off the screen. Returns them and how many were left out."""
    if len(live.sessions) <= limit:
        return live, 0

    def urgency(summary: SessionSummary) -> tuple[Any, ...]:
        present = present_alarms(live.alerts.get(summary.session, []))
        top = alarm_urgency(present[0]) if present else (1, True, True, 0.0)
        return (not present, *top, -summary.last_time.timestamp(), summary.session)

    shown = sorted(live.sessions, key=urgency)[:limit]
    names = {s.session for s in shown}
    kept = [s for s in live.sessions if s.session in names]
    return Live(kept, {k: v for k, v in live.latest.items() if k in names},
                {k: v for k, v in live.events.items() if k in names},
                {k: v for k, v in live.alerts.items() if k in names}), len(live.sessions) - limit


def alarms_frame(live: Live) -> pd.DataFrame:
    """Every alarm present in an active session (active, or acknowledged and not cleared): the
    latest event per (session, alarm), most urgent first as on the tiles
    (`vitals.sessions.alarm_urgency`). From `active` (every page's shell reads it each
    refresh)."""
    present = sorted(((session, a) for session, alerts in live.alerts.items()
                      for a in present_alarms(alerts)),
                     key=lambda item: (alarm_urgency(item[1]), item[0], item[1].metric.value,
                                       item[1].rule))
    labels = {session: session_label(live.events.get(session, [])) for session in live.alerts}
    frame = pd.DataFrame(
        [{"session": session, "label": labels[session], "time": a.time,
          "metric": a.metric.value, "rule": a.key.rule,
          "priority": a.priority.value, "rank": a.priority.rank, "state": a.state.value,
          "value": a.value, "message": a.message, "by": a.by, "note": a.note, "ended": a.ended}
         for session, a in present],
        columns=list(ALARM_COLUMNS))
    if not frame.empty:
        frame["time"] = utc_times(frame["time"].tolist())
    return frame


def pipeline_silence(live: Live, now: datetime, stream_after_s: float,
                     stale_after: Mapping[Kind, timedelta] = STALE_AFTER) -> float | None:
    """Seconds since the newest reading when every stream of every active session (from
    `active`) is overdue, each by its own cadence (the HR and SpO2 streams after
    `stream_after_s`, BP after `stale_after[BP]`); None while any stream is on time, or no
    session has readings. Only then is the pipeline the likely cause: one silent device, while
    others deliver, is that session's technical alarm, not the pipeline's banner."""
    times = [(kind, t) for s in live.sessions for kind, t in s.last_reading.items()]
    if not times:
        return None
    for kind, t in times:
        after = (stale_after[kind].total_seconds() if kind is Kind.BP else stream_after_s)
        if age_seconds(now, t) <= after:
            return None
    return age_seconds(now, max(t for _, t in times))
