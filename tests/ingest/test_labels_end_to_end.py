"""A session's display label end to end (issue 19): a start message through a real Mosquitto,
the ingest and the store, to the overview tile, the alarms panel row and the published alarm;
a label the rule refuses goes to the dead-letter topic with its reason."""

from __future__ import annotations

import uuid

import pytest
from services import wait_until

from dashboard import components, queries, tiles
from tests.dashboard.trees import text_of
from vitals.timefmt import utcnow

pytestmark = pytest.mark.services

LABEL = "Chair 3 · AB"


@pytest.fixture(params=["sqlite", "influx"])
def settings(request):
    return request.getfixturevalue(f"{request.param}_settings")


def test_a_starts_label_reaches_the_tile_the_alarm_row_and_the_published_alarm(
        settings, worker_factory, probe_factory):
    _worker, store = worker_factory(settings)
    probe = probe_factory(settings, ["vitals/+/alert"])
    session = f"lbl-{uuid.uuid4().hex[:8]}"

    probe.publish(f"vitals/{session}/session", {"event": "start", "label": f"  {LABEL}  "})
    probe.publish(f"vitals/{session}/bp", {"systolic": 190, "diastolic": 95, "device": "cuff-1"})
    wait_until(lambda: store.alerts(session), 10, "the crisis alarm stored")
    wait_until(lambda: probe.messages(f"{session}/alert"), 10, "the alarm published")

    now = utcnow()
    live = queries.active(store, now)
    [row] = [r for r in queries.overview_rows(live, now) if r["session"] == session]
    tile = tiles.tile(row)
    [alarm_row] = [a for a in components.alarms_panel(queries.alarms_frame(live), True, now)
                   if "Systolic 190" in text_of(a)]

    assert text_of(tile.children[0].children[0]) == f"{LABEL}   {session}"
    assert text_of(alarm_row.children[1]) == f"{LABEL}   {session}"
    assert probe.messages(f"{session}/alert")[0]["label"] == LABEL


@pytest.mark.parametrize(("label", "words"), [
    ("Room 12 · chair 4 · " + "x" * 30, "label is 50 characters; the limit is 40"),
    ("Chair 3\nAB", "printable"),
])
def test_a_label_too_long_or_not_printable_is_refused_on_the_dead_letter_topic(
        sqlite_settings, worker_factory, probe_factory, label, words):
    _worker, store = worker_factory(sqlite_settings)
    probe = probe_factory(sqlite_settings, ["vitals/+/rejected"])
    session = f"lbl-{uuid.uuid4().hex[:8]}"

    probe.publish(f"vitals/{session}/session", {"event": "start", "label": label})
    wait_until(lambda: probe.messages(f"{session}/rejected"), 10, "the refusal published")

    [refusal] = probe.messages(f"{session}/rejected")
    assert words in refusal["reason"]
    assert store.events(session) == []  # refused whole, never stored with the label cut
