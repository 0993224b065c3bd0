"""Storage: one interface (`Store`), two implementations, one factory."""

from __future__ import annotations

from vitals.settings import Settings
from vitals.storage.base import Batch, SessionSummary, Store, StoreError, StoreUnavailable

__all__ = ["Batch", "SessionSummary", "Store", "StoreError", "StoreUnavailable", "open_store"]


def open_store(settings: Settings) -> Store:
    """InfluxDB when `VITALS_INFLUX_URL` is set, else the embedded SQLite file."""
    if settings.influx_url:
        from vitals.storage.influx import InfluxStore

        return InfluxStore.from_settings(settings)
    from vitals.storage.sqlite import SqliteStore

    return SqliteStore(settings.sqlite_path)
