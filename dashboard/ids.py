"""Component ids, in one place, so layouts, callbacks and tests cannot drift apart."""

from __future__ import annotations

from typing import Final

# Shell (app.py)
HEADER: Final = "header"
DISCLAIMER: Final = "disclaimer"
PROFILE_BADGE: Final = "profile-badge"

# Overview (/)
OVERVIEW_INTERVAL: Final = "overview-interval"
OVERVIEW_TILES: Final = "overview-tiles"
OVERVIEW_STATUS: Final = "overview-status"

# Session view (/session/<id>)
SESSION_INTERVAL: Final = "session-interval"
SESSION_ID_STORE: Final = "session-id-store"
SESSION_HEADER: Final = "session-header"
SESSION_GRAPH: Final = "session-graph"
SESSION_ALERTS: Final = "session-alerts"
SESSION_STATUS: Final = "session-status"

# History (/sessions)
HISTORY_TABLE: Final = "history-table"


def tile(session: str) -> str:
    """The id of one overview tile (session ids are safe in HTML ids by the contract)."""
    return f"tile-{session}"


def tile_value(session: str, what: str) -> str:
    """The id of one big number on a tile: `what` is bp, hr or spo2."""
    return f"tile-{session}-{what}"


def tile_alarm(session: str) -> str:
    return f"tile-{session}-alarm"
