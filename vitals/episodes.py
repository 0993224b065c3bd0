"""A session's alarms as episodes, pure: each one from raised to cleared, with who acknowledged
it and how it ended, for the reader of a report who must see at once which alarm nobody answered.

An episode is one alarm (`AlertEvent.key`) from the event that raised it until the event that
cleared it. The session's end clears every alarm still present ("Session ended."): an episode
ended that way without an acknowledgement of its highest priority is reported as unanswered,
never as merely "cleared".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from vitals.alerts import AlarmKey, AlertEvent, AlertState, Priority
from vitals.sessions import alert_order


class Outcome(StrEnum):
    ANSWERED = "answered"  # acknowledged at its highest priority, then cleared
    CLEARED_UNACKNOWLEDGED = "cleared_unacknowledged"  # its condition ended before anyone did
    OPEN_AT_END = "open_at_end"  # still unacknowledged when the session ended
    PRESENT = "present"  # not cleared yet (a report of a session still running)


@dataclass(frozen=True, slots=True)
class AlarmEpisode:
    key: AlarmKey
    raised: AlertEvent  # the event that raised it
    worst: AlertEvent  # the raising event of its highest priority (the first at that priority)
    acknowledged: AlertEvent | None  # the last acknowledgement at or after `worst`
    cleared: AlertEvent | None
    outcome: Outcome

    @property
    def priority(self) -> Priority:
        return self.worst.priority


def alarm_episodes(alerts: Iterable[AlertEvent],
                   session_ended: datetime | None) -> tuple[AlarmEpisode, ...]:
    """Every alarm episode of the session, in the order they were raised."""
    episodes: list[AlarmEpisode] = []
    open_: dict[AlarmKey, dict[str, AlertEvent | None]] = {}
    for alert in sorted(alerts, key=alert_order):
        current = open_.get(alert.key)
        if current is None:
            if alert.state is AlertState.ACTIVE:
                open_[alert.key] = {"raised": alert, "worst": alert, "ack": None}
            continue  # an acknowledgement or clearing of nothing open: nothing to report
        worst = current["worst"]
        assert worst is not None
        if alert.state is AlertState.ACTIVE and alert.priority.rank > worst.priority.rank:
            current["worst"], current["ack"] = alert, None  # raised further: needs a new answer
        elif alert.state is AlertState.ACKNOWLEDGED:
            current["ack"] = alert
        elif alert.state is AlertState.CLEARED:
            episodes.append(_episode(alert.key, current, alert, session_ended))
            del open_[alert.key]
    episodes.extend(_episode(key, current, None, session_ended) for key, current in open_.items())
    return tuple(sorted(episodes, key=lambda e: alert_order(e.raised)))


def _episode(key: AlarmKey, current: dict[str, AlertEvent | None], cleared: AlertEvent | None,
             session_ended: datetime | None) -> AlarmEpisode:
    raised, worst, ack = current["raised"], current["worst"], current["ack"]
    assert raised is not None and worst is not None
    if cleared is None:
        outcome = Outcome.PRESENT
    elif ack is not None:
        outcome = Outcome.ANSWERED
    elif session_ended is not None and cleared.time >= session_ended:
        outcome = Outcome.OPEN_AT_END
    else:
        outcome = Outcome.CLEARED_UNACKNOWLEDGED
    return AlarmEpisode(key, raised, worst, ack, cleared, outcome)
