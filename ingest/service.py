"""`vitals ingest`: the ingest worker as a process, built from the settings and run until a
signal (the composition root of `ingest/`)."""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
from datetime import timedelta

from ingest.worker import IngestWorker
from vitals.engine import AlertEngine
from vitals.errors import ServiceUnavailable
from vitals.profile_loader import load_profile
from vitals.settings import Settings
from vitals.storage import Store, StoreError, StoreUnavailable, open_store
from vitals.timefmt import utcnow

log = logging.getLogger(__name__)

# The worker allocates tens of objects per message; at Python's default threshold (a young
# collection every 700 allocations) the cyclic garbage collector took ~20% of the CPU of a
# backlog drain. Hardly anything here forms cycles, so collecting every 10,000 costs no memory.
GC_YOUNG_THRESHOLD = 10_000
# Settings of the retired judge shards: a deployment that still sets them is told, not broken.
RETIRED_SETTINGS = ("VITALS_INGEST_SHARE_GROUP", "VITALS_INGEST_SHARDS", "VITALS_INGEST_SHARD")


def build_engine(settings: Settings) -> AlertEngine:
    return AlertEngine(load_profile(settings.profile), stale_seconds=settings.stale_seconds)


def tune_gc() -> None:
    """The garbage collector's setting for a process that runs the ingest (`GC_YOUNG_THRESHOLD`)."""
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def run_worker(settings: Settings) -> None:
    """`vitals ingest`: run until SIGTERM or SIGINT, then shut down gracefully."""
    tune_gc()  # the process is ours
    for retired in RETIRED_SETTINGS:
        if os.environ.get(retired):
            log.warning("%s is no longer used: every ingest worker is a full replica that "
                        "judges every session (docs/reliability.md, Replicas)", retired)
    store = open_store(settings)
    check_store(store)
    worker = IngestWorker(settings, store, build_engine(settings))
    # What start-up built (modules, the profile, settings) lives as long as the process: out of
    # the collector's reach, its full collections scan only what the ingest allocates since.
    gc.freeze()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    worker.start()
    log.info("ingest running; SIGTERM or Ctrl-C stops it gracefully")
    stop.wait()
    worker.stop()
    store.close()


def check_store(store: Store) -> None:
    """Fail start-up on what waiting cannot fix (a database that refuses these credentials);
    a database that does not answer is only logged: alarms must not wait for it."""
    try:
        store.ping()
        # A bounded read: the ping alone needs no credentials on InfluxDB 1.x.
        store.rejections(since=utcnow() - timedelta(minutes=1), limit=1)
    except StoreUnavailable:
        pass  # said once by `IngestWorker.start`, which starts without the stored state
    except StoreError as err:
        raise ServiceUnavailable(
            f"{err} (check VITALS_INFLUX_DB and the credentials: VITALS_INFLUX_USERNAME and "
            "VITALS_INFLUX_PASSWORD, or VITALS_INFLUX_TOKEN)") from err
