"""Login throttling: after too many failed logins for a user name or from a client address, new
logins for it are refused for a while, whether or not the name exists.

Pure (an injected clock, no Flask) and bounded: at most `max_keys` names and addresses are
remembered (the least recently failing are forgotten first), each with at most its limit's
number of failure times.

Why not Flask-Limiter: it limits *requests* per route with fixed or moving windows from the
wall clock and would bring `limits` and its storage layer (plus `rich`) for what is here one small
table of failures; a lockout that counts only failures, ends at a stated time, never locks out a
name for the login of another, and is tested with a fake clock is about eighty lines.

Limits are per user name (5 failures in 15 minutes) and, higher, per client address (20): a ward
computer shared by the staff must not lock everyone out for one person's typing. A lockout only
refuses new logins; sessions already logged in keep working, so nobody watching a patient is
thrown out by someone else's guessing.

Known addresses: once a name has logged in from an address, that (name, address) pair is
trusted and has a budget of its own (5 failures in 15 minutes, for that pair only); the name's
and the address's lockouts do not apply to it. So guessing a nurse's password elsewhere, or a
colleague's typos on the ward computer, can never keep her out of the computer she logs in at
to acknowledge an alarm, while guessing at that computer is still slowed as before. Trusted
pairs are remembered per process (at most `max_keys`, the least recently used forgotten first).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from vitals.timefmt import utcnow


@dataclass(frozen=True, slots=True)
class Limit:
    """`failures` within `window` lock the key out for `lockout`."""

    failures: int
    window: timedelta
    lockout: timedelta


NAME: Final = "name"
ADDRESS: Final = "address"
KNOWN_PAIR: Final = "known pair"  # a name from an address it has logged in from before
LIMITS: Final = {
    NAME: Limit(5, timedelta(minutes=15), timedelta(minutes=15)),
    ADDRESS: Limit(20, timedelta(minutes=15), timedelta(minutes=15)),
    KNOWN_PAIR: Limit(5, timedelta(minutes=15), timedelta(minutes=15)),
}
MAX_KEYS: Final = 10_000
_MAX_KEY_CHARS: Final = 100  # longer names are invalid anyway; an attacker's must not cost memory


@dataclass(slots=True)
class _Failures:
    times: deque[datetime]
    locked_until: datetime | None = None


@dataclass
class LoginThrottle:
    limits: Mapping[str, Limit] = field(default_factory=lambda: dict(LIMITS))
    clock: Callable[[], datetime] = utcnow
    max_keys: int = MAX_KEYS
    _entries: OrderedDict[tuple[str, str], _Failures] = field(default_factory=OrderedDict)
    _known: OrderedDict[tuple[str, str], None] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # the server is threaded

    def locked_until(self, name: str, address: str) -> datetime | None:
        """When logins for `name` from `address` may be tried again, or None: they may now."""
        with self._lock:
            return self._locked_until(name, address)

    def _locked_until(self, name: str, address: str) -> datetime | None:
        now = self.clock()
        ends = []
        for key in self._counted(name, address):
            entry = self._entries.get(key)
            if entry is None or entry.locked_until is None:
                continue
            if entry.locked_until > now:
                ends.append(entry.locked_until)
            else:
                del self._entries[key]  # the lockout is over: a clean slate
        return max(ends, default=None)

    def failed(self, name: str, address: str) -> datetime | None:
        """Count a failed login; returns when it may be tried again if this one locked it out."""
        with self._lock:
            self._count_failure(name, address)
            return self._locked_until(name, address)

    def _count_failure(self, name: str, address: str) -> None:
        now = self.clock()
        for key in self._counted(name, address):
            limit = self.limits[key[0]]
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Failures(deque(maxlen=limit.failures))
            self._entries.move_to_end(key)
            if entry.locked_until is not None:
                if entry.locked_until > now:
                    continue  # a refusal while locked out does not extend the stated time
                entry.locked_until = None  # over: count afresh
            while entry.times and entry.times[0] <= now - limit.window:
                entry.times.popleft()
            entry.times.append(now)
            if len(entry.times) >= limit.failures:
                entry.locked_until = now + limit.lockout
                entry.times.clear()
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)

    def succeeded(self, name: str, address: str) -> None:
        """A login succeeded: the name's failures are forgiven and the pair is known from now
        on. The address's failures are not forgiven, or one valid login would let its owner
        guess other people's passwords without end."""
        with self._lock:
            name_key, _ = self._keys(name, address)
            self._entries.pop(name_key, None)
            pair = self._pair(name, address)
            self._entries.pop(pair, None)
            self._known[pair] = None
            self._known.move_to_end(pair)
            while len(self._known) > self.max_keys:
                self._known.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def _counted(self, name: str, address: str) -> tuple[tuple[str, str], ...]:
        """The keys whose failures count for (and lock out) this login attempt."""
        pair = self._pair(name, address)
        return (pair,) if pair in self._known else self._keys(name, address)

    @staticmethod
    def _keys(name: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return (NAME, name.strip().lower()[:_MAX_KEY_CHARS]), (ADDRESS, address[:_MAX_KEY_CHARS])

    @staticmethod
    def _pair(name: str, address: str) -> tuple[str, str]:
        return (KNOWN_PAIR,
                f"{name.strip().lower()[:_MAX_KEY_CHARS]}\n{address[:_MAX_KEY_CHARS]}")


def refusal(until: datetime, now: datetime) -> str:
    """What a locked-out login form says: when to retry, and nothing about the name."""
    minutes = max(1, -(-int((until - now).total_seconds()) // 60))
    if until.second or until.microsecond:  # never name a minute before the lockout ends
        until = until.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return (f"Too many failed logins. Try again after {until:%H:%M} UTC "
            f"(in {minutes} minute{'s' if minutes != 1 else ''}).")
