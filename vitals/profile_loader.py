"""The alert profile loaded: the default table, merged with a clinic's file and overrides.

`vitals/profiles/default.toml` is the clinical guidance's "Default profile" table. A clinic
overrides it with a TOML file of the same shape, a session with a mapping of the same shape;
both merge key by key onto the default (`load_profile`) and the result is validated as a
`vitals.profile.Profile`. A bad profile fails at load with a `ProfileError` naming the
offending key.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from vitals.profile import Profile

log = logging.getLogger(__name__)

DEFAULT_PROFILE_PATH: Final = Path(__file__).with_name("profiles") / "default.toml"


class ProfileError(ValueError):
    """The profile cannot be used; the message names the file and the key to fix."""


def load_profile(path: Path | None = None, overrides: Mapping[str, Any] | None = None) -> Profile:
    """The default profile, merged with a clinic's TOML file and a session's overrides.

    Raises `ProfileError` naming the file and the key when anything is wrong.
    """
    data = _read_toml(DEFAULT_PROFILE_PATH)
    origin = [DEFAULT_PROFILE_PATH.name]
    where = str(DEFAULT_PROFILE_PATH)
    if path is not None:
        data = _merge(data, _read_toml(Path(path)))
        origin.append(str(path))
        where = str(path)
    if overrides:
        if not isinstance(overrides, Mapping):
            raise ProfileError("profile overrides must be a mapping of the profile's keys")
        data = _merge(data, overrides)
        origin.append("session overrides")
        where = f"{where} with session overrides"
    data["origin"] = tuple(origin)
    try:
        profile = Profile.model_validate(data)
    except ValidationError as err:
        raise ProfileError(f"alert profile {where}: {_describe(err)}") from err
    log.debug("alert profile %s loaded from %s", profile.name, profile.source_path)
    return profile


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as err:
        raise ProfileError(f"alert profile {path} does not exist") from err
    except OSError as err:
        raise ProfileError(f"alert profile {path} cannot be read: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise ProfileError(f"alert profile {path} is not valid TOML: {err}") from err


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` onto `base`, tables merged key by key, everything else replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(err: ValidationError) -> str:
    parts = []
    for error in err.errors():
        # Skip pydantic's internal labels (validator names) so the path is the profile's keys.
        loc = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-"))
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {message}" if loc else message)
    return "; ".join(parts)
