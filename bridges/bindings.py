"""Which Bluetooth device feeds which session: the bridge's bindings file, parsed and matched.

Pure (no Bluetooth, no MQTT), so a wrong file is refused with the entry to fix before the bridge
scans. The file (TOML) maps a device address (case-insensitive) or advertised name to a session:

    [devices]
    "D0:1F:5B:00:11:22" = "room-3"
    "BLESmart_0000021F" = { session = "room-4", pair = true, set_clock = true }
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from vitals.readings import SESSION_ID


class BindingError(ValueError):
    """The bindings file is wrong; the message names the entry to fix."""


@dataclass(frozen=True, slots=True)
class Binding:
    """One device bound to one session; `device` is an address or an advertised name."""

    device: str
    session: str
    pair: bool = False  # bond before subscribing (cuffs that only indicate to a bonded host)
    set_clock: bool = False  # write the local time to Date Time (2A08) on connect, if writable


_BINDING_KEYS: Final = frozenset({"session", "pair", "set_clock"})


def parse_bindings(document: Mapping[str, Any]) -> tuple[Binding, ...]:
    """Bindings from a parsed TOML document with a `[devices]` table."""
    devices = document.get("devices")
    if not isinstance(devices, Mapping) or not devices:
        raise BindingError("bindings need a [devices] table: \"<address or name>\" = \"<session>\"")
    bindings: list[Binding] = []
    seen: set[str] = set()
    for device, entry in devices.items():
        where = f"devices.{device!r}"
        if not device.strip():
            raise BindingError(f"{where}: the device address or name is empty")
        if isinstance(entry, str):
            entry = {"session": entry}
        if not isinstance(entry, Mapping):
            raise BindingError(f"{where}: expected a session id or a table with session = ...")
        unknown = set(entry) - _BINDING_KEYS
        if unknown:
            raise BindingError(f"{where}: unknown key {sorted(unknown)[0]!r}; expected "
                               + ", ".join(sorted(_BINDING_KEYS)))
        session = entry.get("session")
        if not isinstance(session, str) or not SESSION_ID.match(session):
            raise BindingError(f"{where}: session must be 1 to 64 characters of "
                               f"A-Z a-z 0-9 _ -, got {session!r}")
        flags = {key: entry.get(key, False) for key in ("pair", "set_clock")}
        for key, value in flags.items():
            if not isinstance(value, bool):
                raise BindingError(f"{where}: {key} must be true or false, got {value!r}")
        key = device.lower()
        if key in seen:
            raise BindingError(f"{where}: the device is bound twice")
        seen.add(key)
        bindings.append(Binding(device, session, flags["pair"], flags["set_clock"]))
    return tuple(bindings)


def load_bindings(path: Path) -> tuple[Binding, ...]:
    """Bindings from a TOML file; `BindingError` names the file and the problem."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise BindingError(f"cannot read the bindings file {path}: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise BindingError(f"bindings file {path} is not valid TOML: {err}") from err
    try:
        return parse_bindings(document)
    except BindingError as err:
        raise BindingError(f"bindings file {path}: {err}") from err


def match_binding(bindings: Iterable[Binding], address: str, name: str | None) -> Binding | None:
    """The binding for a device: by address (case-insensitive) first, then by exact name."""
    bindings = tuple(bindings)
    for binding in bindings:
        if binding.device.lower() == address.lower():
            return binding
    if name:
        for binding in bindings:
            if binding.device == name:
                return binding
    return None
