"""How each alarm of a session ended, from its alert events (pure, a table of histories)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.episodes import Outcome, alarm_episodes

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
END = T0 + timedelta(minutes=30)


def at(minute: float, state: AlertState, priority: Priority = Priority.HIGH,
       metric: Metric = Metric.SYSTOLIC, rule: str = "", by: str | None = None) -> AlertEvent:
    return AlertEvent(T0 + timedelta(minutes=minute), "s1", metric, priority, state,
                      f"{metric} {priority} at {minute}", rule=rule or f"{metric}.{priority}",
                      by=by)


A, K, C = AlertState.ACTIVE, AlertState.ACKNOWLEDGED, AlertState.CLEARED
MEDIUM = Priority.MEDIUM


@pytest.mark.parametrize(("history", "ended", "outcomes"), [
    # raised, acknowledged, cleared by its condition ending: answered
    ([at(1, A), at(2, K, by="nurse"), at(5, C)], END, [Outcome.ANSWERED]),
    # raised and cleared by the session's end, never acknowledged: the worst case
    ([at(1, A), at(30, C)], END, [Outcome.OPEN_AT_END]),
    # its condition ended before anyone acknowledged it
    ([at(1, A), at(3, C)], END, [Outcome.CLEARED_UNACKNOWLEDGED]),
    # acknowledged at medium, then raised to high and not acknowledged again: unanswered
    ([at(1, A, MEDIUM), at(2, K, MEDIUM, by="nurse"), at(4, A), at(30, C)], END,
     [Outcome.OPEN_AT_END]),
    # still present in a running session
    ([at(1, A)], None, [Outcome.PRESENT]),
    # two episodes of one alarm, and another metric's own
    ([at(1, A), at(2, K, by="n"), at(3, C), at(10, A), at(30, C),
      at(5, A, metric=Metric.SPO2), at(30, C, metric=Metric.SPO2)], END,
     [Outcome.ANSWERED, Outcome.OPEN_AT_END, Outcome.OPEN_AT_END]),
    # an acknowledgement or clearing of nothing raised reports nothing
    ([at(1, K, by="n"), at(2, C)], END, []),
])
def test_each_alarm_episode_says_how_it_ended(history, ended, outcomes):
    assert [e.outcome for e in alarm_episodes(history, ended)] == outcomes


def test_an_episode_keeps_its_highest_priority_and_the_acknowledgement_after_it():
    history = [at(1, A, MEDIUM), at(2, K, MEDIUM, by="a"), at(4, A), at(6, K, by="b"), at(9, C)]
    [episode] = alarm_episodes(history, END)
    assert (episode.priority, episode.raised.time, episode.acknowledged.by) == (
        Priority.HIGH, T0 + timedelta(minutes=1), "b")


def test_a_latched_technical_alarm_restating_itself_stays_one_episode():
    silent = at(1, A, metric=Metric.DATA, rule="data.stream_silent.hr")
    back = replace(silent, time=T0 + timedelta(minutes=3), ended=T0 + timedelta(minutes=3))
    history = [silent, back, replace(silent, time=END, state=C)]
    assert [e.outcome for e in alarm_episodes(history, END)] == [Outcome.OPEN_AT_END]
