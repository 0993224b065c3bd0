"""Two ingest workers on one shared subscription, sessions pinned: stored once, judged by one.

Real Mosquitto and InfluxDB. The broker splits the messages between the workers; each stores
what it receives, and only the owner of a session (`ingest.shards.shard_of`) judges it, the
other forwarding it on the owner's judge topic. So every session raises exactly the alarms one
worker alone raises.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from services import wait_until

from ingest.shards import shard_of
from ingest.worker import IngestWorker
from simulators import publisher
from simulators.timeline import session_messages
from tests.ingest.conftest import assert_expected_alarms, export, make_settings
from vitals.settings import Settings
from vitals.timefmt import rfc3339, utcnow

pytestmark = pytest.mark.services

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SEED = 3
# Limit rules, sustained SpO2, baseline, device errors, silence, observations; fixed session ids
# ("scale-NN-<scenario>") so the shard of each is known: four on shard 0, three on shard 1.
SCENARIOS = ("normal", "hypertensive-spike", "baseline-rise", "desaturation", "cuff-error",
             "device-dropout", "respiratory-depression")
READING_LEAVES = ("bp", "hr", "spo2")
# Real devices send a session's readings seconds apart, so its two paths to the owner (direct, or
# forwarded by the other worker, 10 to 100 ms later on a busy machine) keep their order; a replay
# much faster than real time would not (see the README, "Several workers"). At 100x an HR reading
# every 5 s arrives every 50 ms, and only a forward later than 250 ms could look like a 30 s
# silence (200x, 125 ms, failed once in a full suite run on 2 busy cores). 70 min after the dose
# hold every scenario's episodes: about 45 s of publishing.
SPEED = 100.0
TIMELINE = {"session_length": timedelta(minutes=70)}


def shard_settings(mosquitto, influxd, database: str, tmp_path, group: str,
                   shard: int) -> Settings:
    return make_settings(mosquitto.url, influxd.url, database, tmp_path / "data",
                         ingest_share_group=group, ingest_shards=2, ingest_shard=shard,
                         ingest_client_id=f"{group}-{shard}")


@pytest.fixture
def shard_pair(mosquitto, influxd, influx_db, tmp_path):
    """Settings of shard 0 and shard 1 of two, one share group of their own."""
    group = f"scale-{uuid.uuid4().hex[:8]}"
    return [shard_settings(mosquitto, influxd, influx_db, tmp_path, group, shard)
            for shard in (0, 1)]


def settled(*workers: IngestWorker) -> bool:
    """Everything received is stored and acknowledged, and every forward was judged."""
    counters = [w.pipeline.counters for w in workers]
    return (all(w.backlog == 0 for w in workers)
            and sum(c.forwarded for c in counters) == sum(c.judged_for_others for c in counters))


def test_two_workers_store_each_reading_once_and_judge_each_session_in_one_engine(
        shard_pair, ingest_factory):
    workers = [ingest_factory(settings)[0] for settings in shard_pair]
    report = publisher.run(shard_pair[0], scenarios=SCENARIOS, sessions=len(SCENARIOS),
                           speed=SPEED, seed=SEED, start=START, session_prefix="scale",
                           **TIMELINE)
    owner = {session: shard_of(session, 2) for session in report.scenarios}
    assert set(owner.values()) == {0, 1}, "the chosen sessions must cover both shards"
    readings = {session: sum(1 for m in session_messages(scenario, session, START, SEED, **TIMELINE)
                             if m.leaf in READING_LEAVES)
                for session, scenario in report.scenarios.items()}
    wait_until(lambda: settled(*workers)
               and sum(w.pipeline.counters.readings for w in workers) >= sum(readings.values()),
               120, "every reading stored and every forward judged")

    received = [w.pipeline.counters.received for w in workers]
    assert sum(received) == report.total, "a message was received twice, or not at all"
    assert min(received) > report.total // 4, f"the broker did not split the load: {received}"
    assert all(w.pipeline.counters.forwarded > 0 for w in workers)
    assert [(w.status()["shard"], w.status()["forwarded"] > 0) for w in workers] == [
        (0, True), (1, True)]
    for session, scenario in report.scenarios.items():
        exported = export(shard_pair[0], session)
        assert len(exported["readings"]) == readings[session], session
        assert_expected_alarms(scenario, exported)
        judges = [shard for shard, w in enumerate(workers)
                  if w.pipeline.engine.state(session) is not None]
        assert judges == [owner[session]], f"{session} judged by shards {judges}"


def session_of_shard(shard: int) -> str:
    """A fresh session id that shard `shard` of two owns."""
    while shard_of(session := f"s-{uuid.uuid4().hex[:12]}", 2) != shard:
        pass
    return session


def test_a_restarted_shard_restores_only_its_sessions_and_judges_what_came_while_it_was_down(
        shard_pair, ingest_factory, probe_factory):
    started = utcnow().replace(microsecond=0) - timedelta(hours=1)  # live: restored on start

    def at(minutes: float) -> str:
        return rfc3339(started + timedelta(minutes=minutes))

    probe = probe_factory(shard_pair[0], [])
    first, store = ingest_factory(shard_pair[0])
    second, _ = ingest_factory(shard_pair[1])
    mine, other = session_of_shard(1), session_of_shard(0)
    for s in (mine, other):
        probe.publish(f"vitals/{s}/session", {"event": "start", "time": at(0)})
        probe.publish(f"vitals/{s}/bp", {"systolic": 100, "diastolic": 62, "time": at(2)})
        probe.publish(f"vitals/{s}/bp", {"systolic": 104, "diastolic": 64, "time": at(7)})
        probe.publish(f"vitals/{s}/session", {"event": "dose", "time": at(10)})
    wait_until(lambda: settled(first, second) and len(store.readings(mine)) == 2, 10,
               "the baseline stored and judged")
    second.stop()

    # While shard 1 is down the broker goes on splitting: shard 0 stores its share and forwards
    # it (queued for shard 1), the rest waits in shard 1's own session.
    forwarded = first.pipeline.counters.forwarded
    for n in range(4):
        probe.publish(f"vitals/{mine}/hr", {"bpm": 150 + n, "time": at(12 + n / 10)})
    wait_until(lambda: first.pipeline.counters.forwarded > forwarded and first.backlog == 0, 10,
               "shard 0 storing and forwarding its share")

    restarted, _ = ingest_factory(shard_pair[1])
    assert restarted.pipeline.engine.state(mine) is not None, "its own session not restored"
    assert restarted.pipeline.engine.state(other) is None, "restored another shard's session"
    # 143 reaches the restored baseline (102) + 40: only a remembered baseline raises it.
    probe.publish(f"vitals/{mine}/bp", {"systolic": 143, "diastolic": 70, "time": at(18)})
    wait_until(lambda: len(store.readings(mine)) == 7 and settled(first, restarted)
               and any(a.metric.value == "systolic" for a in store.alerts(mine)), 15,
               "every reading stored and judged")

    alarms = [(a.metric.value, a.priority.value, a.state.value, a.limit)
              for a in store.alerts(mine)]
    assert [a[:3] for a in alarms].count(("heart_rate", "high", "active")) == 1, alarms
    assert ("systolic", "medium", "active", 142) in alarms
    assert first.pipeline.engine.state(mine) is None, "shard 0 judged a session of shard 1"
    assert store.alerts(other) == []
