"""One settings object, read once at start-up from `VITALS_*` environment variables.

Each option is described once, here. CLI options override by passing keyword arguments to
`Settings(...)`. A malformed value fails start-up with a message naming the variable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vitals.admission import MAX_NEW_SESSIONS_PER_MINUTE, MAX_SESSIONS_PER_DEVICE
from vitals.readings import MAX_TIME_AHEAD, SESSION_ID
from vitals.timefmt import zone_named

MIN_SECRET_KEY_CHARS = 32


def default_data_dir() -> Path:
    """The user's data directory (XDG), where the embedded store keeps its file."""
    import os

    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "session-vitals"


class Settings(BaseSettings):
    # hide_input_in_errors: a refused value may be a secret (a short key, a URL with a password).
    model_config = SettingsConfigDict(env_prefix="VITALS_", extra="ignore", frozen=True,
                                      hide_input_in_errors=True)

    mqtt_url: Annotated[
        str, Field(description="broker, `mqtt://[user:password@]host:port` (`mqtts://` for TLS); "
                   "`vitals demo` starts its own embedded broker unless given `--mqtt-url`")
    ] = "mqtt://127.0.0.1:1883"
    influx_url: Annotated[
        str | None, Field(description="InfluxDB base URL, e.g. `http://127.0.0.1:8086`; unset: "
                          "the embedded SQLite store")
    ] = None
    influx_db: Annotated[str, Field(description="database (1.x) or bucket (2.x/3.x)")] = "vitals"
    influx_token: Annotated[
        SecretStr | None, Field(description="token for 2.x/3.x v1-compatibility auth")
    ] = None
    influx_username: Annotated[str | None, Field(description="1.x auth user")] = None
    influx_password: Annotated[SecretStr | None, Field(description="1.x auth password")] = None
    influx_retention_policy: Annotated[
        str | None, Field(description="retention policy to write to (1.x); the default RP if unset")
    ] = None
    data_dir: Annotated[Path, Field(
        description="where the embedded store keeps `vitals.sqlite3` (and the logins)",
        json_schema_extra={"shown_default": "`$XDG_DATA_HOME/session-vitals` "
                           "(`~/.local/share/session-vitals`)"},
    )] = Field(default_factory=default_data_dir)
    topic_prefix: Annotated[str, Field(description="first MQTT topic level")] = "vitals"
    stale_seconds: Annotated[
        float | None,
        Field(gt=0, description="no reading for this long raises a technical alarm; "
              "unset: from the alert profile"),
    ] = None
    profile: Annotated[
        Path | None, Field(description="alert profile TOML overriding the default profile")
    ] = None
    max_time_ahead_seconds: Annotated[
        float, Field(ge=0, description="a message `time` further ahead of its receipt than "
                     "this is replaced by the receive time (`time_inferred`); `inf` trusts every "
                     "time, only for a simulator whose clock runs fast (`vitals demo` sets it)")
    ] = MAX_TIME_AHEAD.total_seconds()

    ingest_client_id: Annotated[
        str, Field(description="fixed MQTT client id of the ingest (its persistent session)")
    ] = "vitals-ingest"
    ingest_batch_max: Annotated[
        int, Field(ge=1, le=50_000, description="most messages stored in one write")
    ] = 2000
    ingest_inflight: Annotated[
        int, Field(ge=1, le=65_535,
                   description="unacknowledged messages the ingest holds (match the broker's "
                   "max_inflight_messages)")
    ] = 1000
    ingest_max_sessions_per_device: Annotated[
        int, Field(ge=1, description="sessions one device may feed within 12 h; readings that "
                   "would start more are refused (docs/threat-model.md)")
    ] = MAX_SESSIONS_PER_DEVICE
    ingest_new_sessions_per_minute: Annotated[
        int, Field(ge=1, description="sessions readings may start implicitly per minute, all "
                   "sources together; beyond it they are refused (docs/threat-model.md)")
    ] = MAX_NEW_SESSIONS_PER_MINUTE
    action_key: Annotated[
        SecretStr | None, Field(description="key the dashboard signs acknowledgements and "
                                "session events with and the ingest checks (HMAC-SHA256); unset: "
                                "actions are not signed (`vitals demo` sets a random one)")
    ] = None

    notify_roster: Annotated[
        Path | None,
        Field(description="on-call roster TOML of `vitals notify` (docs/notifications.md)")
    ] = None
    notify_client_id: Annotated[
        str, Field(description="MQTT client id of the notifier; one per notifier process")
    ] = "vitals-notify"
    dashboard_url: Annotated[
        str | None, Field(description="the dashboard's public base URL, linked from every "
                          "notification (opens the alarm; login required)")
    ] = None

    dashboard_secret_key: Annotated[
        SecretStr | None, Field(description="Flask secret key for dashboard sessions, at least "
                                f"{MIN_SECRET_KEY_CHARS} characters; unset: random per process")
    ] = None
    dashboard_secure_cookie: Annotated[
        bool, Field(description="send the dashboard's session cookie over HTTPS only (set it "
                    "when the dashboard is served over TLS)")
    ] = False
    dashboard_watchdog_seconds: Annotated[
        float, Field(gt=0, description="a browser whose dashboard stopped answering its "
                     "refreshes for this long shows a red \"NOT UPDATING\" notice and sounds")
    ] = 10.0
    timezone: Annotated[
        str, Field(description="the clinic's time zone, an IANA name (`Europe/Berlin`): the "
                   "dashboard and the report show local times with the zone's abbreviation; "
                   "exports and stored times stay UTC")
    ] = "UTC"
    mqtt_ca_file: Annotated[
        Path | None, Field(description="CA certificates (PEM) that sign the broker's certificate, "
                           "for `mqtts://`; unset: the system's CAs")
    ] = None

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url_is_valid(cls, value: str) -> str:
        MqttEndpoint.parse(value)
        return value

    @field_validator("dashboard_secret_key")
    @classmethod
    def _secret_key_is_long(cls, value: SecretStr | None) -> SecretStr | None:
        # A short key (`changeme`) can be guessed offline from one cookie, and with it any
        # login forged.
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_KEY_CHARS:
            raise ValueError(f"must be at least {MIN_SECRET_KEY_CHARS} characters (e.g. "
                             "`openssl rand -hex 32`)")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone_is_known(cls, value: str) -> str:
        zone_named(value)
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_one_level(cls, value: str) -> str:
        if not SESSION_ID.match(value):
            raise ValueError("must be one topic level of A-Z a-z 0-9 _ -")
        return value

    @property
    def mqtt(self) -> MqttEndpoint:
        return MqttEndpoint.parse(self.mqtt_url, ca_file=self.mqtt_ca_file)

    @property
    def max_time_ahead(self) -> timedelta:
        if math.isinf(self.max_time_ahead_seconds):
            return timedelta.max
        return timedelta(seconds=self.max_time_ahead_seconds)

    @property
    def zone(self) -> ZoneInfo:
        """The clinic's time zone (`timezone`), for showing times; never for storing them."""
        return zone_named(self.timezone)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "vitals.sqlite3"


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    """Where the broker is and how to log in, parsed from `VITALS_MQTT_URL`."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: Path | None = None  # for `tls`: the CAs to trust; None: the system's

    @classmethod
    def parse(cls, url: str, ca_file: Path | None = None) -> MqttEndpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"VITALS_MQTT_URL must start with mqtt:// or mqtts://, got {url!r}")
        if not parts.hostname:
            raise ValueError(f"VITALS_MQTT_URL has no host: {url!r}")
        try:
            port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        except ValueError as err:
            raise ValueError(f"VITALS_MQTT_URL has an invalid port: {url!r}") from err
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=parts.scheme == "mqtts",
            ca_file=ca_file,
        )


def configuration_table() -> str:
    """The Markdown table of every setting, from the fields' own descriptions (docs are made from
    it by `scripts/config_table.py`; a test fails when they differ)."""
    rows = ["| variable | meaning | default |", "| --- | --- | --- |"]
    prefix = Settings.model_config["env_prefix"]
    for name, info in Settings.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if "shown_default" in extra:
            default = str(extra["shown_default"])
        elif info.default is None:
            default = "unset"
        else:
            value = info.default
            text = (str(value).lower() if isinstance(value, bool)
                    else f"{value:g}" if isinstance(value, float) else str(value))
            default = f"`{text}`"
        rows.append(f"| `{prefix}{name.upper()}` | {info.description} | {default} |")
    return "\n".join(rows) + "\n"
