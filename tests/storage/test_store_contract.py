"""The storage contract: both stores, one suite, real SQLite file and real influxd.

Every test runs against `SqliteStore` and `InfluxStore` (a fresh database on the session influxd).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.readings import (
    DeviceProblem,
    Observation,
    ObservationKind,
    ObservationRetraction,
    Reading,
    Rejection,
    SessionEvent,
    SessionEventType,
    Severity,
)
from vitals.storage.base import (
    MAX_REJECTION_TEXT,
    Batch,
    Live,
    NotificationRecord,
    SessionSummary,
    Store,
    live_from_parts,
)
from vitals.storage.influx import InfluxStore
from vitals.storage.sqlite import SqliteStore
from vitals.vital_signs import Kind

T0 = datetime(2026, 11, 28, 17, 0, 0, tzinfo=UTC)


def at(seconds: float = 0, micros: int = 0) -> datetime:
    return T0 + timedelta(seconds=seconds, microseconds=micros)


def bp(session: str, t: datetime, systolic: float = 128, diastolic: float = 84,
       device: str | None = "cuff-1", **more: float) -> Reading:
    return Reading(session, Kind.BP, t, {"systolic": systolic, "diastolic": diastolic, **more},
                   device=device)


def hr(session: str, t: datetime, bpm: float = 76, device: str | None = "ox-1") -> Reading:
    return Reading(session, Kind.HR, t, {"bpm": bpm}, device=device)


def spo2(session: str, t: datetime, value: float = 97, device: str | None = "ox-1") -> Reading:
    return Reading(session, Kind.SPO2, t, {"spo2": value}, device=device)


def alert(session: str, t: datetime, state: AlertState = AlertState.ACTIVE, **more: object
          ) -> AlertEvent:
    fields: dict[str, object] = {
        "metric": Metric.SPO2, "priority": Priority.HIGH, "message": "SpO2 88 % below 90 %",
        "rule": "spo2.low", "value": 88.0, "limit": 90.0,
    }
    fields.update(more)
    return AlertEvent(time=t, session=session, state=state, **fields)  # type: ignore[arg-type]


StoreFactory = Callable[[], Store]


@pytest.fixture(params=["sqlite", pytest.param("influx", marks=pytest.mark.services)])
def open_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[StoreFactory]:
    """Opens stores on one database (a second call = a second client, like a second process)."""
    opened: list[Store] = []

    if request.param == "sqlite":
        path = tmp_path / "data" / "vitals.sqlite3"

        def make() -> Store:
            return SqliteStore(path)
    else:
        url = request.getfixturevalue("influxd").url  # started only when an influx test runs
        database = request.getfixturevalue("influx_db")

        def make() -> Store:
            return InfluxStore(url, database)

    def tracked() -> Store:
        store = make()
        opened.append(store)
        return store

    yield tracked
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: StoreFactory) -> Store:
    return open_store()


# -- readings ------------------------------------------------------------------------------------


def test_readings_of_every_kind_round_trip_exactly_with_microsecond_times(store: Store) -> None:
    written = [
        Reading("s1", Kind.BP, at(0, 1), {"systolic": 128.5, "diastolic": 84, "pulse": 76,
                                          "mean_arterial": 98.83333333333333},
                device="cuff-1", problems=(DeviceProblem.CUFF_LOOSE, DeviceProblem.BODY_MOVEMENT)),
        Reading("s1", Kind.HR, at(1, 999_999), {"bpm": 76}, device="ox.1:a", time_inferred=True),
        Reading("s1", Kind.SPO2, at(2, 123_457), {"spo2": 96.7, "pulse": 75}),
    ]
    store.write(Batch(readings=written))

    assert store.readings("s1") == written


def test_readings_come_back_in_time_then_kind_then_device_order(store: Store) -> None:
    written = [
        spo2("s1", at(2)), hr("s1", at(1), device="b"), bp("s1", at(1)),
        hr("s1", at(1), device="a"), hr("s1", at(0)),
    ]
    store.write(Batch(readings=written))

    assert [(r.time, r.kind, r.device) for r in store.readings("s1")] == [
        (at(0), Kind.HR, "ox-1"),
        (at(1), Kind.BP, "cuff-1"),
        (at(1), Kind.HR, "a"),
        (at(1), Kind.HR, "b"),
        (at(2), Kind.SPO2, "ox-1"),
    ]


def test_readings_filter_by_kind_and_an_inclusive_time_range(store: Store) -> None:
    store.write(Batch(readings=[hr("s1", at(i)) for i in range(5)] + [bp("s1", at(2))]))

    found = store.readings("s1", kinds=[Kind.HR], since=at(1), until=at(3))

    assert [(r.kind, r.time) for r in found] == [(Kind.HR, at(1)), (Kind.HR, at(2)),
                                                (Kind.HR, at(3))]
    assert store.readings("s1", kinds=[]) == []


def test_a_redelivered_reading_overwrites_instead_of_adding_a_duplicate(store: Store) -> None:
    batch = Batch(readings=[bp("s1", at(0)), hr("s1", at(0))])
    store.write(batch)
    store.write(batch)

    assert len(store.readings("s1")) == 2


def test_two_devices_measuring_at_the_same_instant_are_two_readings(store: Store) -> None:
    store.write(Batch(readings=[hr("s1", at(0), 70, "ox-1"), hr("s1", at(0), 90, "ox-2"),
                                hr("s1", at(0), 80, None)]))

    assert sorted(r.values["bpm"] for r in store.readings("s1")) == [70, 80, 90]


def test_an_integer_valued_then_a_fractional_reading_of_one_field_do_not_conflict(
    store: Store,
) -> None:
    store.write(Batch(readings=[hr("s1", at(0), 76)]))
    store.write(Batch(readings=[hr("s1", at(1), 76.5)]))

    assert [r.values["bpm"] for r in store.readings("s1")] == [76.0, 76.5]
    assert all(isinstance(r.values["bpm"], float) for r in store.readings("s1"))


def test_sessions_see_only_their_own_readings_events_and_alerts(store: Store) -> None:
    store.write(Batch(
        readings=[hr("s1", at(0)), hr("s2", at(0), 99)],
        events=[SessionEvent("s2", SessionEventType.START, at(0))],
        alerts=[alert("s2", at(0))],
    ))

    assert [r.values["bpm"] for r in store.readings("s1")] == [76]
    assert store.events("s1") == []
    assert store.alerts("s1") == []
    assert store.readings("s") == []


def test_latest_is_the_most_recent_reading_of_each_kind(store: Store) -> None:
    store.write(Batch(readings=[hr("s1", at(i), 60 + i) for i in range(4)]
                      + [bp("s1", at(1), 120), bp("s1", at(0), 130), hr("s2", at(9), 99)]))

    latest = store.latest("s1")

    assert set(latest) == {Kind.HR, Kind.BP}
    assert latest[Kind.HR] == hr("s1", at(3), 63)
    assert latest[Kind.BP] == bp("s1", at(1), 120)
    assert store.latest("nobody") == {}


def test_an_empty_batch_stores_nothing_and_does_not_fail(store: Store) -> None:
    store.write(Batch())

    assert store.sessions() == []
    assert store.rejections() == []


def test_data_written_by_one_client_is_read_by_another_on_the_same_database(
    open_store: StoreFactory,
) -> None:
    writer, reader = open_store(), open_store()
    writer.write(Batch(readings=[hr("s1", at(0))]))
    writer.close()

    assert reader.readings("s1") == [hr("s1", at(0))]


def test_concurrent_writes_from_several_threads_all_land(store: Store) -> None:
    errors: list[BaseException] = []

    def write(thread: int) -> None:
        try:
            for i in range(5):
                store.write(Batch(readings=[hr("s1", at(thread * 10 + i))]))
                store.readings("s1")
        except BaseException as err:  # reported below, not lost in the thread
            errors.append(err)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(store.readings("s1")) == 20


# -- session events ------------------------------------------------------------------------------


def test_session_events_round_trip_in_time_order(store: Store) -> None:
    written = [
        SessionEvent("s1", SessionEventType.END, at(3600), note="discharged", by="dr-b"),
        SessionEvent("s1", SessionEventType.START, at(0, 5), time_inferred=True),
        SessionEvent("s1", SessionEventType.DOSE, at(600), note='0.5 mg/kg "IM",\nleft arm',
                     by="nurse a"),
    ]
    store.write(Batch(events=written))

    assert store.events("s1") == [written[1], written[2], written[0]]


@pytest.mark.parametrize("label", ["Chair 3 · AB", "Room 1, chair \"A\"", "ö=1 x\\"])
def test_a_starts_display_label_round_trips_in_every_read_of_events(store: Store,
                                                                     label: str) -> None:
    start = SessionEvent("s1", SessionEventType.START, at(0), label=label)
    unlabelled = SessionEvent("s2", SessionEventType.START, at(1))
    store.write(Batch(events=[start, unlabelled]))

    assert store.events("s1") == [start]
    assert store.events_by_session(["s1", "s2"]) == {"s1": [start], "s2": [unlabelled]}
    assert store.live(at(0)).events == {"s1": [start], "s2": [unlabelled]}


# -- notifications (issue 14) --------------------------------------------------------------------


def test_notifications_round_trip_with_their_delivery_errors_in_time_order(store: Store) -> None:
    written = [
        NotificationRecord(at(2), "s1", "systolic", "Dr X", "mailtos", "alarm", False,
                           "could not connect: Connection refused"),
        NotificationRecord(at(0, 7), "s1", "systolic", "Nurse A\\", "json", "alarm", True),
        NotificationRecord(at(2), "s1", "systolic", "Dr X", "ntfys", "alarm", True),
        NotificationRecord(at(60), "s1", "systolic", "Dr X", "ntfys", "all_clear", True),
        NotificationRecord(at(1), "s2", "spo2", "Nurse A", "json", "alarm", True),
    ]
    store.write(Batch(notifications=written))
    store.write(Batch(notifications=written[:1]))  # written again: overwritten, not added

    assert store.notifications("s1") == [written[1], written[0], written[2], written[3]]
    assert store.notifications("s2") == [written[4]]
    assert store.notifications("s3") == []


# -- alerts --------------------------------------------------------------------------------------


def test_alert_events_round_trip_with_optional_fields(store: Store) -> None:
    written = [
        alert("s1", at(0)),
        alert("s1", at(5), AlertState.ACKNOWLEDGED, by="dr-b", note="re-seated the probe"),
        alert("s1", at(9), AlertState.CLEARED, metric=Metric.DATA, priority=Priority.LOW,
              rule="", value=None, limit=None, message="readings resumed"),
    ]
    store.write(Batch(alerts=written))

    assert store.alerts("s1") == written
    assert store.alerts("s1", since=at(5)) == written[1:]


def test_a_latched_technical_alarm_keeps_when_its_condition_ended(store: Store) -> None:
    written = [
        alert("s1", at(0), metric=Metric.DATA, priority=Priority.MEDIUM,
              rule="data.stream_silent.hr"),
        alert("s1", at(7), metric=Metric.DATA, priority=Priority.MEDIUM,
              rule="data.stream_silent.hr", ended=at(7)),
    ]
    store.write(Batch(alerts=written))

    assert store.alerts("s1") == written
    assert store.alerts_by_session(["s1"], at(0))["s1"] == written


def test_an_alert_event_written_again_overwrites_even_with_another_priority(store: Store) -> None:
    store.write(Batch(alerts=[alert("s1", at(0), priority=Priority.MEDIUM)]))
    store.write(Batch(alerts=[alert("s1", at(0), priority=Priority.HIGH)]))

    assert [a.priority for a in store.alerts("s1")] == [Priority.HIGH]


def test_alerts_of_two_rules_or_two_states_at_one_instant_are_kept_apart(store: Store) -> None:
    store.write(Batch(alerts=[
        alert("s1", at(0), rule="spo2.low"),
        alert("s1", at(0), rule="spo2.critical", priority=Priority.HIGH),
        alert("s1", at(0), AlertState.CLEARED, rule="spo2.low"),
    ]))

    assert len(store.alerts("s1")) == 3


# -- rejections ----------------------------------------------------------------------------------

# Quoting, escapes, separators of line protocol, InfluxQL and SQL, parameters: what a topic, a
# payload or a session id from the broker may hold, kept exactly and matched only as data.
HOSTILE = [
    'say "hi"',
    "back\\slash\\",
    "line1\nline2\r\nline3",
    "a,b c=d",
    "日本語 ✓ 🫀",
    "x' OR '1'='1",
    "s1' OR '1'='1",
    '"; DROP MEASUREMENT "bp"; --',
    "$session",
    "\\n is not a newline",
    "",
    's1" OR "session" =~ /.*/ --',
    "s1' OR time > 0 --",
    "s1\\",
    "s1; DROP DATABASE x",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_rejections_keep_hostile_strings_exactly(store: Store, text: str) -> None:
    written = Rejection(topic=f"vitals/{text}", reason=text, payload=text, time=at(0, 7))
    store.write(Batch(rejections=[written]))

    assert store.rejections() == [written]


def test_rejections_are_most_recent_last_and_limited_to_the_most_recent(store: Store) -> None:
    written = [Rejection(f"vitals/s1/x{i}", "unknown kind", "{}", at(i), "s1") for i in range(5)]
    store.write(Batch(rejections=list(reversed(written))))

    assert store.rejections() == written
    assert store.rejections(limit=2) == written[-2:]
    assert store.rejections(since=at(3)) == written[3:]


def test_an_overlong_rejected_topic_is_truncated_and_does_not_fail_the_batch(store: Store) -> None:
    topic = "vitals/" + "x" * 70_000  # MQTT allows 64 KiB topics; InfluxDB refuses such strings
    store.write(Batch(readings=[hr("s1", at(0))],
                      rejections=[Rejection(topic, "too long", "{}", at(0))]))

    (kept,) = store.rejections()
    assert len(kept.topic) == MAX_REJECTION_TEXT
    assert kept.topic.startswith("vitals/xxx")
    assert len(store.readings("s1")) == 1


def test_two_rejections_at_the_same_instant_are_both_kept(store: Store) -> None:
    store.write(Batch(rejections=[Rejection("vitals/s1/x", "a", "1", at(0), "s1"),
                                  Rejection("vitals/s1/y", "b", "2", at(0), "s1")]))

    assert sorted(r.topic for r in store.rejections()) == ["vitals/s1/x", "vitals/s1/y"]


# -- hostile session ids on reads ----------------------------------------------------------------

@pytest.mark.parametrize("session", HOSTILE, ids=range(len(HOSTILE)))
def test_a_session_id_is_matched_as_data_never_run_as_a_query(store: Store, session: str) -> None:
    store.write(Batch(readings=[hr("s1", at(0))], events=[
        SessionEvent("s1", SessionEventType.START, at(0))], alerts=[alert("s1", at(0))]))

    assert store.readings(session) == []
    assert store.latest(session) == {}
    assert store.events(session) == []
    assert store.alerts(session) == []
    assert len(store.readings("s1")) == 1


def test_session_ids_with_special_characters_round_trip(store: Store) -> None:
    session = "a b,c=d'e\"f"
    store.write(Batch(readings=[hr(session, at(0))]))

    assert store.readings(session) == [hr(session, at(0))]


# -- session summaries ---------------------------------------------------------------------------


def test_sessions_summarise_times_last_readings_and_protocol_events(store: Store) -> None:
    store.write(Batch(
        readings=[hr("s1", at(10)), hr("s1", at(20)), bp("s1", at(15)), spo2("s1", at(30, 1))],
        events=[SessionEvent("s1", SessionEventType.START, at(5)),
                SessionEvent("s1", SessionEventType.DOSE, at(12))],
    ))

    assert store.sessions() == [SessionSummary(
        session="s1",
        first_time=at(5),
        last_time=at(30, 1),
        last_reading={Kind.HR: at(20), Kind.BP: at(15), Kind.SPO2: at(30, 1)},
        started=at(5),
        dosed=at(12),
        ended=None,
    )]


def test_sessions_are_newest_first_and_since_leaves_out_quiet_ones(store: Store) -> None:
    store.write(Batch(
        readings=[hr("old", at(0)), hr("busy", at(0)), hr("busy", at(100)), hr("mid", at(50))],
        events=[SessionEvent("ended", SessionEventType.START, at(1)),
                SessionEvent("ended", SessionEventType.END, at(90))],
    ))

    assert [s.session for s in store.sessions()] == ["busy", "ended", "mid", "old"]
    recent = store.sessions(since=at(60))
    assert [s.session for s in recent] == ["busy", "ended"]
    assert recent[0].first_time == at(0)  # the whole session, not just the part since
    assert recent[1].ended == at(90)
    assert recent[1].last_reading == {}


def test_ping_answers_while_the_store_is_up(store: Store) -> None:
    store.ping()


# -- observations (issue 8) ----------------------------------------------------------------------


def observed(session: str, t: datetime, kind: ObservationKind = ObservationKind.NAUSEA,
             severity: Severity = Severity.MILD, **more: object) -> Observation:
    return Observation(session, t, kind, severity, **more)  # type: ignore[arg-type]


def test_observations_round_trip_with_every_field(store: Store) -> None:
    written = [
        observed("s1", at(0, 1), ObservationKind.SEDATION, Severity.MODERATE,
                 note="eyes closed, rousable", by="nurse-a"),
        observed("s1", at(60, 999_999), ObservationKind.RESPIRATORY_DEPRESSION, Severity.SEVERE,
                 by="dr-b", time_inferred=True),
        observed("s1", at(120), ObservationKind.NAUSEA, Severity.NONE),
    ]
    store.write(Batch(observations=written))

    assert store.observations("s1") == written
    assert store.observations("other") == []


def test_observations_come_back_in_time_order(store: Store) -> None:
    written = [observed("s1", at(i)) for i in (3, 1, 2)]
    store.write(Batch(observations=written))

    assert [o.time for o in store.observations("s1")] == [at(1), at(2), at(3)]


def test_an_observation_recorded_again_overwrites_its_identity(store: Store) -> None:
    store.write(Batch(observations=[observed("s1", at(0), by="nurse-a", note="first")]))
    corrected = observed("s1", at(0), severity=Severity.SEVERE, by="nurse-a", note="corrected")
    store.write(Batch(observations=[corrected]))

    assert store.observations("s1") == [corrected]


def test_observations_of_another_kind_or_by_another_person_are_kept_apart(store: Store) -> None:
    written = [
        observed("s1", at(0), ObservationKind.ANXIETY, by="nurse-a"),
        observed("s1", at(0), ObservationKind.NAUSEA, by="nurse-a"),
        observed("s1", at(0), ObservationKind.NAUSEA, by="nurse-b"),
        observed("s1", at(0), ObservationKind.NAUSEA),
    ]
    store.write(Batch(observations=written))

    assert len(store.observations("s1")) == 4


def test_a_batch_counts_its_observations(store: Store) -> None:
    assert len(Batch(observations=[observed("s1", at(0)), observed("s1", at(1))])) == 2


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_observations_keep_hostile_notes_and_names_exactly(store: Store, text: str) -> None:
    written = [
        observed("s1", at(0), note=text, by="nurse-a"),
        # An empty name is no name: it reads back as None.
        observed("s1", at(1), ObservationKind.VOMITING, note="x", by=text or None),
    ]
    store.write(Batch(observations=written))

    assert store.observations("s1") == written


def retraction(t: datetime, observed_at: datetime, by: str = "nurse-a",
               kind: ObservationKind = ObservationKind.NAUSEA) -> ObservationRetraction:
    return ObservationRetraction("s1", t, kind, observed_at, by)


def test_a_retracted_observation_stays_in_the_record_marked_entered_in_error(store: Store) -> None:
    kept = observed("s1", at(1), note="kept", by="nurse-a")
    wrong = observed("s1", at(0), ObservationKind.VOMITING, Severity.SEVERE, by="nurse-a")
    store.write(Batch(observations=[kept, wrong]))
    store.write(Batch(retractions=[retraction(at(2), at(0), kind=ObservationKind.VOMITING)]))

    assert store.observations("s1") == [
        replace(wrong, retracted_by="nurse-a", retracted_at=at(2)), kept]
    assert store.observations("other") == []


def test_a_retraction_in_the_same_batch_or_before_its_observation_still_marks_it(
        store: Store) -> None:
    store.write(Batch(retractions=[retraction(at(5), at(0), by="dr-b")]))
    store.write(Batch(observations=[observed("s1", at(0), by="nurse-a")],
                      retractions=[retraction(at(6), at(0), by="nurse-a")]))

    (marked,) = store.observations("s1")
    assert (marked.retracted_by, marked.retracted_at) == ("dr-b", at(5))  # the first one


def test_a_retraction_of_another_kind_or_moment_marks_nothing(store: Store) -> None:
    written = [observed("s1", at(0)), observed("s1", at(1), ObservationKind.ANXIETY)]
    store.write(Batch(observations=written, retractions=[
        retraction(at(2), at(0), kind=ObservationKind.ANXIETY), retraction(at(2), at(0, 1))]))

    assert store.observations("s1") == written


def test_a_batch_counts_its_retractions() -> None:
    assert len(Batch(retractions=[retraction(at(2), at(0))])) == 1


# -- set-wise reads (the overview: a few queries however many sessions) ---------------------------


def latest_since(store: Store, session: str, since: datetime) -> dict[Kind, Reading]:
    return {kind: r for kind, r in store.latest(session).items() if r.time >= since}


def test_latest_by_session_equals_latest_of_each_active_session_since(store: Store) -> None:
    store.write(Batch(readings=[
        *[hr("s1", at(i), 60 + i) for i in range(6)],
        bp("s1", at(1), pulse=71),  # before `since`: not the session's latest since
        Reading("s1", Kind.SPO2, at(4), {"spo2": 96, "pulse": 70}, time_inferred=True,
                problems=(DeviceProblem.SENSOR_CONTACT,)),
        bp("s2", at(3), 131, 85, pulse=80, mean_arterial=100.3),
        hr("s2", at(2)), spo2("s2", at(7), 95),
        hr("s3", at(0)),  # quiet since `since`
    ]))

    found = store.latest_by_session(at(2))

    assert found == {"s1": latest_since(store, "s1", at(2)), "s2": store.latest("s2")}
    assert set(found["s1"]) == {Kind.HR, Kind.SPO2}
    assert store.latest_by_session(at(8)) == {}


def test_latest_by_session_returns_one_whole_reading_not_the_last_value_of_each_field(
    store: Store,
) -> None:
    older = bp("s1", at(0), 140, 90, pulse=88, mean_arterial=106.7)
    newer = bp("s1", at(60), 120, 80)  # no pulse, no mean arterial pressure
    store.write(Batch(readings=[older, newer]))

    assert store.latest_by_session(at(0)) == {"s1": {Kind.BP: newer}}


def test_latest_by_session_includes_readings_without_a_device(store: Store) -> None:
    no_device = hr("s1", at(5), 70, device=None)
    store.write(Batch(readings=[hr("s1", at(1), device="ox-1"), no_device,
                                spo2("s2", at(3), device=None)]))

    found = store.latest_by_session(at(0))

    assert found == {"s1": {Kind.HR: no_device}, "s2": {Kind.SPO2: spo2("s2", at(3), device=None)}}


def test_latest_by_session_prefers_the_greater_device_at_one_instant(store: Store) -> None:
    store.write(Batch(readings=[hr("s1", at(1), 70, device=None), hr("s1", at(1), 71, device="a"),
                                hr("s1", at(1), 72, device="b")]))

    assert store.latest_by_session(at(0)) == {"s1": {Kind.HR: hr("s1", at(1), 72, device="b")}}


def test_events_by_session_equals_events_of_each_listed_session(store: Store) -> None:
    store.write(Batch(events=[
        SessionEvent("s1", SessionEventType.END, at(60)),
        SessionEvent("s1", SessionEventType.START, at(0), note="ready", by="nurse-a"),
        SessionEvent("s1", SessionEventType.DOSE, at(10), time_inferred=True),
        SessionEvent("s2", SessionEventType.START, at(5)),
        SessionEvent("s3", SessionEventType.START, at(5)),
    ]))

    found = store.events_by_session(["s1", "s2", "quiet"])

    assert found == {"s1": store.events("s1"), "s2": store.events("s2"), "quiet": []}
    assert [e.event for e in found["s1"]] == [
        SessionEventType.START, SessionEventType.DOSE, SessionEventType.END]


def test_alerts_by_session_equals_alerts_of_each_listed_session_since(store: Store) -> None:
    store.write(Batch(alerts=[
        alert("s1", at(30), AlertState.CLEARED), alert("s1", at(0)),
        alert("s1", at(10), AlertState.ACKNOWLEDGED, by="nurse-a", note="repositioned"),
        alert("s2", at(20), metric=Metric.HEART_RATE, rule="hr.high", value=None, limit=None),
        alert("s3", at(20)),
    ]))

    assert store.alerts_by_session(["s1", "s2", "quiet"]) == {
        "s1": store.alerts("s1"), "s2": store.alerts("s2"), "quiet": []}
    assert store.alerts_by_session(["s1", "s2"], since=at(10)) == {
        "s1": store.alerts("s1", since=at(10)), "s2": store.alerts("s2", since=at(10))}
    assert len(store.alerts_by_session(["s1"], since=at(10))["s1"]) == 2


def test_live_equals_the_reads_it_stands_for(store: Store) -> None:
    store.write(Batch(
        readings=[
            # busy: every kind in the window, BP from two cuffs at one instant.
            hr("busy", at(0), 60), hr("busy", at(100), 70), spo2("busy", at(95)),
            bp("busy", at(90), 120, device="cuff-a"), bp("busy", at(90), 130, device="cuff-b"),
            # stale-bp: its only BP long before the window, the newest reading of its kind.
            bp("stale-bp", at(5), 140), hr("stale-bp", at(80), 88),
            # quiet: nothing since the window began, so not live.
            hr("quiet", at(10)),
            # ended: live (its end is in the window), for the pages to leave out.
            hr("ended", at(70), device=None),
        ],
        events=[
            SessionEvent("busy", SessionEventType.START, at(1)),
            SessionEvent("busy", SessionEventType.DOSE, at(20)),
            SessionEvent("busy", SessionEventType.CHECKIN, at(99), by="nurse"),
            # events-only: a check-in in the window, its readings all before it.
            SessionEvent("events-only", SessionEventType.START, at(2)),
            SessionEvent("events-only", SessionEventType.CHECKIN, at(75)),
            SessionEvent("ended", SessionEventType.START, at(3)),
            SessionEvent("ended", SessionEventType.END, at(76)),
        ],
        alerts=[alert("busy", at(30)), alert("busy", at(40), AlertState.CLEARED),
                alert("stale-bp", at(80), metric=Metric.HEART_RATE), alert("quiet", at(10))],
    ))
    store.write(Batch(readings=[spo2("events-only", at(4), 91)]))

    live = store.live(at(60))

    assert live == live_from_parts(store, at(60))
    assert [s.session for s in live.sessions] == ["busy", "stale-bp", "ended", "events-only"]
    assert live.latest["stale-bp"][Kind.BP] == bp("stale-bp", at(5), 140)
    assert live.latest["busy"][Kind.BP].device == "cuff-b"
    assert live.latest["events-only"] == {Kind.SPO2: spo2("events-only", at(4), 91)}
    assert store.live(at(200)) == Live([], {}, {}, {})


def test_set_wise_reads_of_no_sessions_are_empty(store: Store) -> None:
    store.write(Batch(readings=[hr("s1", at(0))], events=[
        SessionEvent("s1", SessionEventType.START, at(0))], alerts=[alert("s1", at(0))]))

    assert store.events_by_session([]) == {}
    assert store.alerts_by_session([], since=at(0)) == {}
    assert store.trends([], at(0), timedelta(seconds=5)) == {}


@pytest.mark.parametrize("session", [*HOSTILE, ".*", "/.*/", "s1|s2", "s1\\' OR 1=1 --"],
                         ids=range(len(HOSTILE) + 4))
def test_a_listed_session_id_is_matched_as_data_never_widens_a_set_wise_read(
    store: Store, session: str
) -> None:
    store.write(Batch(readings=[hr("s1", at(0)), bp("s2", at(0))], events=[
        SessionEvent("s1", SessionEventType.START, at(0))], alerts=[alert("s1", at(0))]))

    assert store.events_by_session([session]) == {session: []}
    assert store.alerts_by_session([session]) == {session: []}
    assert store.alerts_by_session([session], since=at(0)) == {session: []}
    assert store.trends([session], at(0), timedelta(seconds=5)) == {session: []}
    assert store.events_by_session([session, "s2"]) == {session: [], "s2": []}


def test_a_hostile_session_id_with_data_reads_back_only_its_own(store: Store) -> None:
    hostile = "x' OR \"session\" =~ /.*/ OR '1'='1"
    store.write(Batch(readings=[hr(hostile, at(0), 61), hr("s1", at(0), 99)], events=[
        SessionEvent(hostile, SessionEventType.START, at(0)),
        SessionEvent("s1", SessionEventType.START, at(0))],
        alerts=[alert(hostile, at(0)), alert("s1", at(0))]))

    assert store.events_by_session([hostile]) == {hostile: store.events(hostile)}
    assert store.alerts_by_session([hostile]) == {hostile: store.alerts(hostile)}
    assert store.trends([hostile], at(0), timedelta(seconds=5)) == {
        hostile: [Reading(hostile, Kind.HR, at(0), {"bpm": 61.0})]}
    assert store.latest_by_session(at(0))[hostile] == store.latest(hostile)
    assert store.live(at(0)) == live_from_parts(store, at(0))


def test_trends_are_the_mean_of_each_field_per_bucket_since(store: Store) -> None:
    # T0 is a multiple of 5 s since the epoch, so the buckets start at at(0), at(5), at(10).
    bpm = [60, 62, 64, 66, 68, 70, 72, 74, 76, 78, 80, 83]
    store.write(Batch(readings=[
        *[hr("s1", at(i), v) for i, v in enumerate(bpm)],
        hr("s1", at(6, 500_000), 100, device="ox-2"),  # a second device shares the bucket
        spo2("s1", at(3), 97), Reading("s1", Kind.SPO2, at(4), {"spo2": 94, "pulse": 70}),
        bp("s1", at(1)), bp("s1", at(7), 140, 90, device=None),
        hr("s2", at(2), 50), hr("other", at(3)),
    ]))

    found = store.trends(["s1", "s2", "quiet"], at(2), timedelta(seconds=5))

    assert set(found) == {"s1", "s2", "quiet"}
    assert found["quiet"] == []
    assert found["s2"] == [Reading("s2", Kind.HR, at(0), {"bpm": 50.0})]
    expected = [
        Reading("s1", Kind.HR, at(0), {"bpm": (64 + 66 + 68) / 3}),
        Reading("s1", Kind.SPO2, at(0), {"spo2": (97 + 94) / 2, "pulse": 70.0}),
        Reading("s1", Kind.HR, at(5), {"bpm": (70 + 72 + 74 + 76 + 78 + 100) / 6}),
        bp("s1", at(7), 140, 90, device=None),  # BP raw, and only since `since`
        Reading("s1", Kind.HR, at(10), {"bpm": (80 + 83) / 2}),
    ]
    got = found["s1"]
    assert [(r.kind, r.time, r.device) for r in got] == [
        (r.kind, r.time, r.device) for r in expected]
    for reading, want in zip(got, expected, strict=True):
        assert reading.values == pytest.approx(want.values)
        assert (reading.session, reading.time_inferred, reading.problems) == ("s1", False, ())
    assert [r for r in got if r.kind is Kind.BP] == store.readings("s1", [Kind.BP], since=at(2))


def test_trends_buckets_are_aligned_to_the_epoch_not_to_since(store: Store) -> None:
    store.write(Batch(readings=[hr("s1", at(i), 60 + i) for i in range(0, 20)]))

    found = store.trends(["s1"], at(5), timedelta(seconds=7))

    # 17:00:00 UTC is 1_795_885_200 s since the epoch, = 4 (mod 7): buckets start at at(3),
    # at(10), at(17); the first holds only the readings since at(5) and still starts at at(3).
    assert [(r.time, r.values["bpm"]) for r in found["s1"]] == [
        (at(3), 67.0), (at(10), 73.0), (at(17), 78.0)]
