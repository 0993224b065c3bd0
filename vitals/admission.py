"""Which readings a session admits (pure, no I/O): devices bound to sessions, and a bound on what
one source may create (issue #16, items 4 and 5; docs/threat-model.md).

The broker cannot tie a device account to a session (a topic names no device), so the ingest
does, before the alarm rules judge a reading:
- a session whose `start` named its devices admits readings from those devices only;
- a session started implicitly (a reading before any `start`, as the contract allows) binds the
  first device that feeds it, per kind: a second cuff in the same chair is refused. Readings
  that name no device (raw GATT values, old bridges) cannot be attributed and are admitted
  there: refusing them would silence sessions that work today.
- a new session started implicitly counts against two caps: sessions per device (within
  `DEVICE_WINDOW`) and new sessions per minute over all sources (a device may omit its name).

A refusal says why; the pipeline turns it into a rejection and, for a live session, a technical
alarm. Sessions already admitted are judged as before whatever a flood does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from vitals.readings import Reading
from vitals.vital_signs import Kind

MAX_SESSIONS_PER_DEVICE: Final = 64  # a wall of chairs fed by one simulator account fits
MAX_NEW_SESSIONS_PER_MINUTE: Final = 120  # implicit starts, every source together
DEVICE_WINDOW: Final = timedelta(hours=12)  # a device's sessions older than this are forgotten
NEW_SESSIONS_SOURCE: Final = "new sessions"  # the aggregation key of every capped refusal


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a reading is not admitted. `alarm`: the session is live and must show it."""

    reason: str
    source: str  # what the rejections are aggregated by
    alarm: str | None = None


@dataclass(slots=True)
class Admission:
    max_sessions_per_device: int = MAX_SESSIONS_PER_DEVICE
    max_new_sessions_per_minute: int = MAX_NEW_SESSIONS_PER_MINUTE
    refused_sessions: int = 0  # readings refused by the caps (the ingest status shows it)
    last_refused: datetime | None = None
    _named: dict[str, frozenset[str]] = field(default_factory=dict)
    _bound: dict[str, dict[Kind, str]] = field(default_factory=dict)
    _device_sessions: dict[str, dict[str, datetime]] = field(default_factory=dict)
    _new_sessions: deque[datetime] = field(default_factory=deque)

    def start(self, session: str, devices: Iterable[str]) -> None:
        """A `start` event: with devices named, only they may feed the session from now on."""
        named = frozenset(devices)
        if named:
            self._named[session] = named
            self._bound.pop(session, None)

    def end(self, session: str) -> None:
        """An ended session no longer counts against its devices' caps (a demo loops for days)."""
        self._named.pop(session, None)
        self._bound.pop(session, None)
        for device, fed in list(self._device_sessions.items()):
            fed.pop(session, None)
            if not fed:
                del self._device_sessions[device]

    def admit(self, reading: Reading, known: bool, now: datetime) -> Refusal | None:
        """None if the rules may judge `reading`; `known`: its session already has a state."""
        session, device = reading.session, reading.device
        if not known and (refusal := self._cap(reading, now)) is not None:
            self.refused_sessions += 1
            self.last_refused = now
            return refusal
        named = self._named.get(session)
        if named is not None:
            if device in named:
                self._fed(device, session, now)
                return None
            who = f"device {device}" if device else "a device that names none"
            return Refusal(
                f"{reading.kind} reading from {who} refused: session {session} was started "
                f"with devices {', '.join(sorted(named))}", f"{session}/{reading.kind}",
                alarm=f"Readings from unbound {who} refused (this session takes "
                      f"{', '.join(sorted(named))}): check which device is on the patient.")
        if device is None:
            return None
        bound = self._bound.setdefault(session, {}).setdefault(reading.kind, device)
        if bound == device:
            self._fed(device, session, now)
            return None
        return Refusal(
            f"{reading.kind} reading from device {device} refused: session {session} is fed by "
            f"{bound} (start the session naming its devices to change them)",
            f"{session}/{reading.kind}",
            alarm=f"Readings from unbound device {device} refused ({reading.kind} comes from "
                  f"{bound}): check which device is on the patient.")

    def _fed(self, device: str | None, session: str, now: datetime) -> None:
        if device is not None:
            self._device_sessions.setdefault(device, {})[session] = now

    def _cap(self, reading: Reading, now: datetime) -> Refusal | None:
        while self._new_sessions and now - self._new_sessions[0] >= timedelta(minutes=1):
            self._new_sessions.popleft()
        if len(self._new_sessions) >= self.max_new_sessions_per_minute:
            return Refusal(
                f"new session {reading.session} refused: more than "
                f"{self.max_new_sessions_per_minute} sessions started by readings in a minute",
                NEW_SESSIONS_SOURCE)
        if reading.device is not None:
            fed = self._device_sessions.setdefault(reading.device, {})
            for session, seen in list(fed.items()):
                if now - seen > DEVICE_WINDOW:
                    del fed[session]
            if len(fed) >= self.max_sessions_per_device:
                return Refusal(
                    f"new session {reading.session} refused: device {reading.device} already "
                    f"feeds {len(fed)} sessions (at most {self.max_sessions_per_device})",
                    NEW_SESSIONS_SOURCE)
        self._new_sessions.append(now)
        return None
