"""InfluxQL fragments the store's statements are built from (pure, no I/O).

Every outside value (a session id, a time) is bound as a query parameter, never spliced into the
statement; names are quoted as identifiers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from vitals.timefmt import to_us


def where(
    session: str, since: datetime | None = None, until: datetime | None = None
) -> tuple[str, dict[str, Any]]:
    """A WHERE clause with every outside value bound as a parameter, never spliced in."""
    clauses = ['"session" = $session']
    params: dict[str, Any] = {"session": session}
    if since is not None:
        clauses.append("time >= $since")
        params["since"] = ns(since)
    if until is not None:
        clauses.append("time <= $until")
        params["until"] = ns(until)
    return " AND ".join(clauses), params


def any_session(sessions: Sequence[str], prefix: str = "s") -> tuple[str, dict[str, Any]]:
    """`("session" = $s0 OR "session" = $s1 ...)` with every id bound, never spliced in."""
    names = [f"{prefix}{i}" for i in range(len(sessions))]
    clause = "(" + " OR ".join(f'"session" = ${name}' for name in names) + ")"
    return clause, dict(zip(names, sessions, strict=True))


def ns(moment: datetime) -> int:
    # An integer compared with `time` in InfluxQL is nanoseconds.
    return to_us(moment) * 1000


def ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
