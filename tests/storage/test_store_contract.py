"""The storage contract: both stores, one suite, real SQLite file and real influxd.

Every test runs against `SqliteStore` and `InfluxStore` (a fresh database on the session influxd).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.readings import (
    DeviceProblem,
    Kind,
    Observation,
    ObservationKind,
    Reading,
    Rejection,
    SessionEvent,
    SessionEventType,
    Severity,
)
from vitals.storage.base import MAX_REJECTION_TEXT, Batch, SessionSummary, Store
from vitals.storage.influx import InfluxStore
from vitals.storage.sqlite import SqliteStore

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

HOSTILE = [
    'say "hi"',
    "back\\slash\\",
    "line1\nline2\r\nline3",
    "a,b c=d",
    "日本語 ✓ 🫀",
    "x' OR '1'='1",
    '"; DROP MEASUREMENT "bp"; --',
    "$session",
    "\\n is not a newline",
    "",
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

INJECTIONS = [
    "s1' OR '1'='1",
    's1" OR "session" =~ /.*/ --',
    "s1' OR time > 0 --",
    "s1\\",
    "s1; DROP DATABASE x",
    "$session",
    "",
]


@pytest.mark.parametrize("session", INJECTIONS, ids=range(len(INJECTIONS)))
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
