"""What the dashboard keeps between refreshes (`dashboard/caches.py`), on a real SqliteStore."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from tests.dashboard.builders import NOW, bp, hr, minutes
from vitals.readings import Reading
from vitals.storage.base import Batch
from vitals.vital_signs import Kind


def test_the_sparkline_cache_fetched_incrementally_equals_a_full_fetch(tmp_path):
    from datetime import UTC, timedelta

    from dashboard.caches import TrendCache
    from vitals.readings import Reading
    from vitals.storage.base import Batch
    from vitals.storage.sqlite import SqliteStore

    start = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    store = SqliteStore(tmp_path / "v.sqlite3")

    def hr(second: int, bpm: float) -> Reading:
        return Reading("s1", Kind.HR, start + timedelta(seconds=second), {"bpm": bpm})

    cache = TrendCache(window=timedelta(minutes=10), bucket=timedelta(seconds=30))
    store.write(Batch(readings=[hr(s, 60 + s % 7) for s in range(0, 600, 5)]))
    cache.get(store, ["s1"], start + timedelta(seconds=600))
    # More readings arrive, some in the bucket that was still filling at the first fetch.
    store.write(Batch(readings=[hr(s, 90 + s % 5) for s in range(600, 900, 5)]))
    now = start + timedelta(seconds=900)
    incremental = cache.get(store, ["s1"], now)["s1"]

    full = TrendCache(window=timedelta(minutes=10), bucket=timedelta(seconds=30))
    assert incremental == full.get(store, ["s1"], now)["s1"]
    assert incremental[-1].values["bpm"] == sum(90 + s % 5 for s in range(870, 900, 5)) / 6
    assert min(r.time for r in incremental) >= now - timedelta(minutes=10)


def test_the_sparkline_cache_asks_the_store_again_only_after_its_refetch_interval(tmp_path):
    from datetime import UTC, timedelta

    from dashboard.caches import TrendCache
    from vitals.readings import Reading
    from vitals.storage.base import Batch
    from vitals.storage.sqlite import SqliteStore

    start = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    store = SqliteStore(tmp_path / "v.sqlite3")

    def hr(session: str, second: int) -> Reading:
        return Reading(session, Kind.HR, start + timedelta(seconds=second), {"bpm": 70.0})

    cache = TrendCache(bucket=timedelta(seconds=30), refetch=timedelta(seconds=5))
    store.write(Batch(readings=[hr("s1", 0), hr("s2", 0)]))
    assert [r.time for r in cache.get(store, ["s1"], start + timedelta(seconds=1))["s1"]] == [start]
    store.write(Batch(readings=[hr("s1", 31), hr("s2", 31)]))

    within = cache.get(store, ["s1"], start + timedelta(seconds=5))
    assert len(within["s1"]) == 1  # not asked again within the interval
    after = cache.get(store, ["s1"], start + timedelta(seconds=6))
    assert [r.time for r in after["s1"]] == [start, start + timedelta(seconds=30)]
    # A session it has not seen is fetched at once, whatever the interval.
    assert len(cache.get(store, ["s1", "s2"], start + timedelta(seconds=7))["s2"]) == 2


def test_the_history_cache_reads_only_recent_readings_and_everything_after_reread(tmp_path):
    from datetime import timedelta

    from dashboard.caches import HistoryCache
    from vitals.storage.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "v.sqlite3")
    seconds = [0.0]
    cache = HistoryCache(size=1, overlap=timedelta(minutes=2), reread=timedelta(minutes=1),
                         monotonic=lambda: seconds[0])
    store.write(Batch(readings=[hr("a", NOW - minutes(30), 70), hr("a", NOW, 71)]))
    assert cache.readings(store, "a") == store.readings("a")

    # A new reading, one arriving late within the overlap, and one far too late.
    store.write(Batch(readings=[hr("a", NOW + minutes(1), 72), bp("a", NOW - minutes(1), 120, 80),
                                hr("a", NOW - minutes(20), 99)]))
    seconds[0] = 59
    incremental = cache.readings(store, "a")
    assert incremental == [r for r in store.readings("a") if r.time != NOW - minutes(20)]
    seconds[0] = 60
    assert cache.readings(store, "a") == store.readings("a")  # the reread finds the late one

    cache.readings(store, "b")  # size 1: viewing another session drops the first
    store.write(Batch(readings=[hr("a", NOW - minutes(25), 98)]))
    assert cache.readings(store, "a") == store.readings("a")


def test_two_callbacks_opening_one_session_read_it_whole_once(tmp_path):
    """A page opening runs its chart and its status callbacks at once: the second waits for the
    first's whole read and then reads only what is newer (two whole reads of a 4-hour session
    sharing one GIL made the chart twice as slow)."""
    import threading

    from dashboard.caches import HistoryCache
    from vitals.storage.sqlite import SqliteStore

    class HeldStore(SqliteStore):
        """The real store; its first read is held until the test lets it go."""

        calls: ClassVar[list[object]] = []
        release = threading.Event()
        changed = threading.Condition()

        def readings(self, session, kinds=None, since=None, until=None):
            with self.changed:
                self.calls.append(since)
                self.changed.notify_all()
            if len(self.calls) == 1:
                assert self.release.wait(10)
            return super().readings(session, kinds, since, until)

    store = HeldStore(tmp_path / "v.sqlite3")
    store.write(Batch(readings=[hr("a", NOW - minutes(30), 70), hr("a", NOW, 71)]))
    cache = HistoryCache()
    got: dict[str, list] = {}
    first = threading.Thread(target=lambda: got.setdefault("chart", cache.readings(store, "a")))
    first.start()
    with store.changed:
        assert store.changed.wait_for(lambda: len(store.calls) == 1, 10)
    second = threading.Thread(target=lambda: got.setdefault("status", cache.readings(store, "a")))
    second.start()
    with store.changed:  # a second whole read would start now: give it the chance to show
        store.changed.wait_for(lambda: len(store.calls) > 1, 0.5)
    store.release.set()
    first.join(10)
    second.join(10)

    assert store.calls[0] is None and len(store.calls) == 2
    assert store.calls[1] == NOW - minutes(2)  # only the newest, less the overlap
    assert got["chart"] == got["status"] == SqliteStore.readings(store, "a")
