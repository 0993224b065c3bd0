"""Hostile input through the real broker, worker and InfluxDB: refused with a reason, counted,
published on the dead-letter topic, and never a reason to lose a neighbour or stop the worker.
"""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from services import wait_until

from tests.ingest.conftest import hr_reading, make_settings
from vitals.parser import preview
from vitals.readings import MAX_PAYLOAD_BYTES
from vitals.timefmt import rfc3339, utcnow

# (why, topic under the session's prefix — `{s}` is a valid session id — payload, reason words,
#  the session the rejection is published under: "{s}" or "_invalid").
HOSTILE = [
    ("oversized payload", "vitals/{s}/hr", b'{"bpm": "' + b"9" * (MAX_PAYLOAD_BYTES + 1) + b'"}',
     "the limit is", "{s}"),
    ("deep JSON", "vitals/{s}/hr", b'{"bpm": 70, "a": [[[[[1]]]]]}', "nested deeper", "{s}"),
    ("NaN", "vitals/{s}/hr", b'{"bpm": NaN}', "NaN", "{s}"),
    ("Infinity", "vitals/{s}/spo2", b'{"spo2": Infinity}', "Infinity", "{s}"),
    ("non-UTF-8", "vitals/{s}/bp", b'{"systolic": "\xc3\x28"}', "not UTF-8", "{s}"),
    ("binary junk", "vitals/{s}/hr", bytes(range(256)) * 4, "not UTF-8", "{s}"),
    ("device with line protocol", "vitals/{s}/hr", b'{"bpm": 70, "device": "x y,z=1"}',
     "device must be", "{s}"),
    ("comma in session", "vitals/{s},a=b/hr", b'{"bpm": 70}', "session id", "_invalid"),
    ("space in session", "vitals/{s} x/hr", b'{"bpm": 70}', "session id", "_invalid"),
    ("equals in session", "vitals/{s}=1/hr", b'{"bpm": 70}', "session id", "_invalid"),
    ("double quote in session", 'vitals/{s}"x/hr', b'{"bpm": 70}', "session id", "_invalid"),
    ("single quote in session", "vitals/{s}' OR ''='/hr", b'{"bpm": 70}', "session id",
     "_invalid"),
    ("backslash in session", "vitals/{s}\\/hr", b'{"bpm": 70}', "session id", "_invalid"),
    ("too deep", "vitals/{s}/hr/ox-1/extra", b'{"bpm": 70}', "topic must be", "{s}"),
    ("too shallow", "vitals/{s}", b'{"bpm": 70}', "topic must be", "{s}"),
    ("huge topic", "vitals/{s}/" + "k" * 30_000, b'{"bpm": 70}', "unknown reading kind", "{s}"),
]


def test_each_hostile_message_is_refused_with_its_reason_and_every_valid_neighbour_is_stored(
        influx_settings, ingest_factory, probe_factory, session_id):
    worker, store = ingest_factory(influx_settings)
    probe = probe_factory(influx_settings, ["vitals/+/rejected"])
    for n, (_why, topic, payload, _words, _home) in enumerate(HOSTILE):
        probe.publish(f"vitals/{session_id}/hr", hr_reading(n))
        probe.publish(topic.format(s=session_id), payload)
    probe.publish(f"vitals/{session_id}/hr", hr_reading(len(HOSTILE)))

    wait_until(lambda: len(store.readings(session_id)) == len(HOSTILE) + 1, 20,
               "every valid neighbour stored")
    mine = lambda: [r for r in probe.messages("/rejected") if session_id in r["topic"]]  # noqa: E731
    wait_until(lambda: len(mine()) == len(HOSTILE), 10, "one rejection per hostile message")
    published = {(doc["topic"], doc["payload"]): (topic, doc) for topic, doc in probe.received
                 if topic.endswith("/rejected")}
    for why, topic, payload, words, home in HOSTILE:
        topic = topic.format(s=session_id)
        shown = topic if len(topic) <= 256 else topic[:255] + "…"
        on, rejection = published[(shown, preview(payload))]
        assert words in rejection["reason"], why
        assert len(rejection["payload"]) <= 512, why
        assert on == f"vitals/{home.format(s=session_id)}/rejected", why
    assert worker.pipeline.counters.rejected >= len(HOSTILE)
    assert worker.alive


def test_a_hostile_topic_round_trips_through_influxdb_as_data_never_as_syntax(
        influx_settings, ingest_factory, probe_factory, session_id):
    worker, store = ingest_factory(influx_settings)
    probe = probe_factory(influx_settings, [])
    hostile = (f"vitals/{session_id}\\,x=1 y=2\"' OR 1=1; DROP DATABASE \"v\" --"
               "/hr")
    probe.publish(hostile, b'{"bpm": 70, "note": "a\\"b\\\\c,d=e f"}')
    wait_until(lambda: any(r.topic == hostile for r in store.rejections()), 10,
               "the rejection stored")
    (stored,) = [r for r in store.rejections() if r.topic == hostile]
    assert stored.payload == '{"bpm": 70, "note": "a\\"b\\\\c,d=e f"}'
    assert stored.session is None
    assert store.readings(session_id) == []  # nothing of it became a reading
    assert worker.alive


# Topics a client may publish: UTF-8 without control characters, wildcards or a leading `$`.
topic_levels = st.text(
    alphabet=st.sampled_from(string.ascii_letters + string.digits + " _-,=\"'\\.;:é漢🙂"),
    min_size=0, max_size=12)
fuzz_topics = st.lists(topic_levels, min_size=1, max_size=4).map(
    lambda levels: "vitals/fuzz-" + "/".join(levels)).filter(
    lambda t: t.split("/")[-1] not in ("alert", "rejected", "status", "ack", "session"))
# Text as a client may escape it in JSON, lone surrogates ("\udc00") included: `json` decodes
# them, no UTF-8 encoder takes them back.
fuzz_text = st.text(st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010, exclude_categories=())
                    | st.characters(),
                    max_size=8)
fuzz_payloads = st.one_of(
    st.binary(max_size=200),
    st.dictionaries(st.sampled_from(["bpm", "spo2", "systolic", "diastolic", "time", "device"]),
                    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
                    max_size=4).map(lambda d: json.dumps(d).encode()),
)
# A monitor's messages on a fuzzed session of their own: starts, check-ins, acknowledgements
# and observations with hostile text in every free-text field.
fuzz_commands = st.tuples(
    st.sampled_from(["session", "ack", "observation"]),
    st.fixed_dictionaries({}, optional={
        "event": st.sampled_from(["start", "checkin", "dose", "end"]) | fuzz_text,
        "metric": st.sampled_from(["heart_rate", "spo2"]) | fuzz_text,
        "observation": st.sampled_from(["note", "nausea", "agitation"]) | fuzz_text,
        "note": fuzz_text, "by": fuzz_text, "label": fuzz_text}),
).map(lambda c: (f"vitals/fuzz-cmd/{c[0]}", json.dumps(c[1]).encode()))


@pytest.fixture(scope="module")
def fuzz_worker(mosquitto, influxd, tmp_path_factory):
    from ingest.service import build_engine
    from ingest.worker import IngestWorker
    from vitals.storage import open_store

    influxd.query('CREATE DATABASE "fuzz"')
    settings = make_settings(mosquitto.url, influxd.url, "fuzz", tmp_path_factory.mktemp("fuzz"))
    store = open_store(settings)
    worker = IngestWorker(settings, store, build_engine(settings))
    worker.start()
    yield settings, worker, store
    worker.stop(timeout=5)
    store.close()


@settings(max_examples=4, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(messages=st.lists(st.tuples(fuzz_topics, fuzz_payloads) | fuzz_commands, min_size=20,
                         max_size=40))
def test_the_live_worker_survives_fuzzed_messages_and_stores_every_valid_neighbour(
        fuzz_worker, probe_factory, messages):
    settings, worker, store = fuzz_worker
    probe = probe_factory(settings, [])
    session = f"n-{len(messages)}-{abs(hash(tuple(messages))) % 10**9}"
    before = worker.pipeline.counters.received
    for n, (topic, payload) in enumerate(messages):
        probe.publish(topic, payload)
        probe.publish(f"vitals/{session}/hr", hr_reading(n))
    wait_until(lambda: len(store.readings(session)) == len(messages), 20, "every neighbour")
    wait_until(lambda: worker.pipeline.counters.received - before >= 2 * len(messages), 10,
               "every fuzzed message taken in and judged")
    assert worker.alive


def test_a_heart_rate_dated_2099_does_not_silence_the_no_heart_rate_alarm(
        sqlite_settings, ingest_factory, probe_factory, session_id):
    settings = sqlite_settings.model_copy(update={"stale_seconds": 2.0})
    _worker, store = ingest_factory(settings)
    probe = probe_factory(settings, [f"vitals/{session_id}/alert"])
    probe.publish(f"vitals/{session_id}/hr",
                  {"bpm": 72, "time": "2099-01-01T00:00:00Z", "device": "ox-1"})
    # A message on the true clock after it (a monitor's check-in): the session's clock is now.
    probe.publish(f"vitals/{session_id}/session",
                  {"event": "checkin", "by": "nurse-a", "time": rfc3339(utcnow())})

    wait_until(lambda: any(a["metric"] == "data" and a["state"] == "active"
                           and "heart rate" in a["message"].lower()
                           for a in probe.messages("/alert")),
               15, "the no-heart-rate alarm although the reading claimed 2099")
    [stored] = store.readings(session_id)
    assert stored.time_inferred and stored.time.year == utcnow().year


def test_a_retained_end_is_refused_and_never_ends_the_session_also_after_a_restart(
        sqlite_settings, ingest_factory, probe_factory, session_id):
    topic = f"vitals/{session_id}/session"
    probe = probe_factory(sqlite_settings, [f"vitals/{session_id}/rejected"])
    first, store = ingest_factory(sqlite_settings)
    probe.publish(topic, {"event": "start", "time": rfc3339(utcnow())})
    probe.publish(f"vitals/{session_id}/hr", {"bpm": 72, "time": rfc3339(utcnow())})
    wait_until(lambda: len(store.readings(session_id)) == 1, 10, "the session's reading")
    first.stop(timeout=5)

    # Published retained while no ingest with this client id ever subscribed: the broker hands
    # its copy (retain flag set) to the next subscription, at every start.
    probe.client.publish(topic, json.dumps({"event": "end", "by": "dr-smith"}), qos=1,
                         retain=True).wait_for_publish(10)
    try:
        later = sqlite_settings.model_copy(update={"ingest_client_id": f"{session_id}-ingest"})
        for start in (1, 2):
            worker, store = ingest_factory(later)
            wait_until(lambda n=start: len(probe.messages("/rejected")) == n, 10,
                       f"the retained end refused at start {start}")
            [rejection] = probe.messages("/rejected")[start - 1:]
            assert rejection["topic"] == topic
            assert "retained session messages are refused" in rejection["reason"]
            assert worker.wait_idle(10)
            assert worker.pipeline.engine.state(session_id).ended is None
            assert [e.event.value for e in store.events(session_id)] == ["start"]
            worker.stop(timeout=5)
    finally:
        probe.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)


@pytest.mark.parametrize("store_settings", ["influx_settings", "sqlite_settings"])
def test_a_lone_surrogate_in_a_note_is_refused_and_the_alarms_after_it_still_come(
        store_settings, request, ingest_factory, probe_factory, session_id):
    """`json` decodes an escaped lone surrogate ("\\udc00") as text that no UTF-8 encoder takes
    back. Accepted in an acknowledgement's note it ended the judging thread (the acknowledged
    alarm's publication failed) and, in a start's note, every write after it: no alarm and no
    stored reading for any session from then on."""
    settings = request.getfixturevalue(store_settings)
    worker, store = ingest_factory(settings)
    probe = probe_factory(settings, ["vitals/+/rejected", "vitals/+/alert"])
    prefix = f"vitals/{session_id}"
    probe.publish(f"{prefix}/session", b'{"event": "start", "note": "room \\ud800 2"}')
    probe.publish(f"{prefix}/hr", {"bpm": 150, "device": "ox-1"})
    alarms = lambda metric: [a for a in probe.messages("/alert")  # noqa: E731
                             if a["session"] == session_id and a["metric"] == metric]
    wait_until(lambda: alarms("heart_rate"), 10, "the heart rate alarm")
    probe.publish(f"{prefix}/ack",
                  b'{"metric": "heart_rate", "by": "nurse-a", "note": "seen \\udc00"}')
    probe.publish(f"{prefix}/spo2", {"spo2": 80, "device": "ox-1"})

    wait_until(lambda: alarms("spo2"), 10, "the SpO2 alarm after the hostile acknowledgement")
    wait_until(lambda: len(store.readings(session_id)) == 2, 10, "both readings stored")
    # Every replica on the broker judges every session (and refuses alike): one per topic.
    refused = lambda: {r["topic"]: r["reason"] for r in probe.messages("/rejected")  # noqa: E731
                       if r["topic"].startswith(prefix)}
    wait_until(lambda: len(refused()) == 2, 10, "both refused")
    assert all("lone surrogate" in reason for reason in refused().values())
    assert all(a["state"] == "active" for a in alarms("heart_rate"))  # never acknowledged
    assert worker.alive
