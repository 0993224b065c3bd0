"""Store values as frames (`dashboard/frames.py`), from a real SqliteStore."""

from __future__ import annotations

import pandas as pd

from dashboard import frames
from tests.dashboard.builders import NOW, bp, event, hr, minutes, spo2
from vitals.readings import SessionEventType
from vitals.storage.base import Batch
from vitals.vital_signs import Kind


def test_readings_frame_has_one_row_per_reading_in_time_order_with_utc_times(store):
    store.write(Batch(readings=[hr("a", NOW, 80), bp("a", NOW - minutes(5), 130, 85)]))

    frame = frames.readings_frame(store, "a")

    assert list(frame["kind"]) == ["bp", "hr"]
    assert str(frame["time"].dt.tz) == "UTC"
    assert frame.loc[0, "systolic"] == 130 and frame.loc[0, "diastolic"] == 85
    assert frame.loc[1, "bpm"] == 80 and pd.isna(frame.loc[1, "systolic"])


def test_frames_of_an_unknown_session_are_empty_with_their_columns(store):
    assert list(frames.readings_frame(store, "nobody").columns) == list(frames.READING_COLUMNS)
    assert frames.events_frame(store, "nobody").empty
    assert list(frames.alerts_frame(store, "nobody").columns) == list(frames.ALERT_COLUMNS)


def test_sessions_frame_lists_every_session_newest_first_with_its_status(store):
    store.write(Batch(
        readings=[hr("old", NOW - minutes(300), 70), hr("new", NOW - minutes(1), 70)],
        events=[event("old", NOW - minutes(299), SessionEventType.END)],
    ))

    frame = frames.sessions_frame(store, NOW)

    assert list(frame["session"]) == ["new", "old"]
    assert list(frame["status"]) == ["active", "ended"]


def test_session_origin_is_the_dose_else_the_first_reading(store):
    store.write(Batch(readings=[hr("a", NOW - minutes(10), 70), hr("b", NOW - minutes(7), 70)],
                      events=[event("a", NOW - minutes(5), SessionEventType.DOSE)]))

    def origin(session):
        return frames.session_origin(frames.events_frame(store, session),
                                      frames.readings_frame(store, session))

    assert origin("a") == (pd.Timestamp(NOW - minutes(5)), "dose")
    assert origin("b") == (pd.Timestamp(NOW - minutes(7)), "first reading")


def test_thinning_a_long_stream_keeps_its_extremes_and_leaves_short_ones_alone():
    from datetime import timedelta

    stream = [spo2("a", NOW + timedelta(seconds=i), 97) for i in range(3600)]
    stream[1800] = spo2("a", NOW + timedelta(seconds=1800), 84)  # a one-second desaturation
    readings = [bp("a", NOW, 120, 80), *stream]

    thinned = frames.thin(readings, max_points=200)

    oximetry = [r for r in thinned if r.kind is Kind.SPO2]
    assert len(oximetry) <= 204
    assert min(r["spo2"] for r in oximetry) == 84
    assert (oximetry[0], oximetry[-1]) == (stream[0], stream[-1])  # the trace spans it all
    assert [r for r in thinned if r.kind is Kind.BP] == [readings[0]]
    assert [r.time for r in thinned] == sorted(r.time for r in thinned)
