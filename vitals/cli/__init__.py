"""The `vitals` command: the composition root that wires settings, storage and the roles.

Each role is imported lazily inside its command, so `vitals export` never loads Dash and
`vitals ingest` never loads the simulator.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from vitals.settings import Settings

log = logging.getLogger("vitals")


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # amqtt logs every connection at INFO; keep the demo's console readable.
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, CLI overrides applied; a bad value is a one-line error."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as err:
        first = err.errors()[0]
        name = "VITALS_" + "_".join(str(p) for p in first["loc"]).upper()
        raise click.UsageError(f"{name}: {first['msg']}") from err


class Failure(click.ClickException):
    """An error the user can fix: printed as one line naming what to fix, exit status 1."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
@click.version_option(package_name="session-vitals")
def main(verbose: bool) -> None:
    """Session vitals: blood pressure, heart rate and SpO2 watch for ketamine-assisted therapy.

    Decision support only, not a certified medical device; a trained monitor must be present.
    Configured by VITALS_* environment variables (docs/configuration.md); options override them.
    """
    _configure_logging(verbose)


@main.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8050, show_default=True,
              help="Dashboard port (0: a free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Dashboard address.")
@click.option("--sessions", type=click.IntRange(1, 50), default=4, show_default=True,
              help="Simulated sessions.")
@click.option("--speed", type=click.FloatRange(min=1), default=30.0, show_default=True,
              help="Time compression of the simulated sessions.")
@click.option("--seed", type=int, default=7, show_default=True, help="Simulator seed.")
@click.option("--mqtt-url", help="Use this broker instead of starting the embedded one.")
@click.option("--loop", is_flag=True,
              help="Start new simulated sessions each time they end (at the default speed "
              "they end after about 4 min).")
def demo(port: int, host: str, sessions: int, speed: float, seed: int,
         mqtt_url: str | None, loop: bool) -> None:
    """The whole system on the embedded default: broker, store, ingest, simulator, dashboard.

    Prints the dashboard URL and a demo login; Ctrl-C stops everything cleanly. The simulated
    sessions end after a few minutes (logged at start); --loop starts new ones.
    """
    from vitals.cli.demo import run_demo

    settings = load_settings(mqtt_url=mqtt_url)
    _run(run_demo, settings, host=host, port=port, sessions=sessions, speed=speed, seed=seed,
         embedded_broker=mqtt_url is None, loop=loop,
         on_ready=lambda url, login, password: click.echo(
             f"Dashboard: {url}  (login {login!r}, password {password!r}; Ctrl-C stops the demo)"))


@main.command()
@click.option("--client-id", help="MQTT client id (the persistent session); "
              "default VITALS_INGEST_CLIENT_ID.")
def ingest(client_id: str | None) -> None:
    """The ingest worker, in the foreground: MQTT in, validate, alert rules, store, ack."""
    from ingest.service import run_worker

    settings = load_settings(ingest_client_id=client_id)
    _run(run_worker, settings)


@main.command()
@click.option("--roster", "roster_path", type=click.Path(dir_okay=False, path_type=Path),
              help="On-call roster TOML; default VITALS_NOTIFY_ROSTER.")
@click.option("--client-id", help="MQTT client id; default VITALS_NOTIFY_CLIENT_ID.")
def notify(roster_path: Path | None, client_id: str | None) -> None:
    """The notifier: alarms to people off the screen (Apprise), escalating until acknowledged."""
    from notify.roster import RosterError, load_roster
    from notify.worker import run_notifier

    settings = load_settings(notify_roster=roster_path, notify_client_id=client_id)
    if settings.notify_roster is None:
        raise click.UsageError("VITALS_NOTIFY_ROSTER: set it (or --roster) to the roster file")
    try:
        roster = load_roster(settings.notify_roster)
    except RosterError as err:
        raise Failure(str(err)) from err
    _run(run_notifier, settings, roster)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8050, show_default=True)
def dashboard(host: str, port: int) -> None:
    """The Dash dashboard (live overview, session view, history)."""
    from dashboard.app import run

    _run(run, load_settings(), host=host, port=port)


def _scenario_help() -> str:
    try:
        from simulators.scenarios import SCENARIOS
    except ImportError:  # pragma: no cover - the package ships them
        return ""
    return "\n\n\b\nScenarios:\n" + "\n".join(
        f"  {name:<20} {spec.description}" for name, spec in SCENARIOS.items()
    )


@main.command(epilog=_scenario_help())
@click.option("--scenario", "scenarios", multiple=True, default=("normal", "hypertensive-spike"),
              show_default=True, help="Scenario name; repeat to mix (sessions cycle through them).")
@click.option("--sessions", type=click.IntRange(1, 500), default=2, show_default=True)
@click.option("--population", type=click.IntRange(1, 10_000),
              help="Instead of scenarios: this many patients drawn from the population "
              "distributions (simulators/population.toml), one session each.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="Time compression: 60 plays an hour in a minute.")
@click.option("--seed", type=int, default=0, show_default=True, help="Reproducible randomness.")
@click.option("--session-prefix", default="sim", show_default=True,
              help="Session ids are <prefix>-<n>-<scenario>.")
@click.option("--mqtt-url", help="Broker; default VITALS_MQTT_URL.")
def simulate(scenarios: tuple[str, ...], sessions: int, population: int | None, speed: float,
             seed: int, session_prefix: str, mqtt_url: str | None) -> None:
    """Publish simulated ketamine sessions over MQTT (see the scenarios below)."""
    from simulators.publisher import run
    from simulators.scenarios import SCENARIOS

    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        raise click.BadParameter(
            f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)}",
            param_hint="--scenario",
        )
    played: tuple[Any, ...] = scenarios
    if population is not None:
        from simulators.population import draw_population

        played = tuple(patient.scenario for patient in draw_population(population, seed))
        sessions = population
    settings = load_settings(mqtt_url=mqtt_url)
    report = _run(run, settings, scenarios=played, sessions=sessions, speed=speed, seed=seed,
                  session_prefix=session_prefix)
    log.info("simulation finished: %s", report)


@main.command()
def check() -> None:
    """Check configuration, broker, ingest, database, clock and profile; one line each."""
    from vitals.check import format_checks, run_checks, settings_from_environment

    settings, configuration = settings_from_environment()
    results = [configuration] if settings is None else run_checks(settings)
    click.echo(format_checks(results))
    if not all(result.ok for result in results):
        raise SystemExit(1)


@main.command()
@click.argument("session")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
def export(session: str, fmt: str) -> None:
    """Print a session's stored readings and alerts (JSON) or readings (CSV)."""
    from vitals.export import UnknownSession, export_session
    from vitals.readings import SESSION_ID
    from vitals.storage import open_store

    if not SESSION_ID.match(session):
        raise click.BadParameter("1 to 64 characters of A-Z a-z 0-9 _ -", param_hint="SESSION")
    settings = load_settings()
    store = _run(open_store, settings)
    try:
        _run(export_session, store, session, fmt, sys.stdout)
    except UnknownSession as err:
        where = settings.influx_url or settings.sqlite_path
        raise Failure(f"no such session: {session!r} has nothing stored in {where} (the "
                      "dashboard's History page lists the sessions)") from err
    finally:
        store.close()


@main.group("profile")
def profile_group() -> None:
    """Alert profiles: what a profile would do before a clinic uses it."""


@profile_group.command("burden")
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False, path_type=Path),
              help="A clinic's profile TOML (merged onto the default); default: the profile "
              "in force (VITALS_PROFILE, else the default).")
@click.option("--population", type=click.IntRange(1, 100_000), required=True,
              help="Simulated patients (drawn as by `vitals simulate --population`).")
@click.option("--seed", type=int, default=1, show_default=True, help="Population seed.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the report with its plots to this HTML file.")
@click.option("--ack-after", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Minutes after which the simulated monitor acknowledges a medium or high "
              "alarm.")
@click.option("--no-ack", is_flag=True, help="Nobody acknowledges (medium alarms escalate).")
@click.option("--jobs", type=click.IntRange(1, 64),
              help="Worker processes; default: one per CPU.")
def profile_burden(profile_path: Path | None, population: int, seed: int,
                   html_path: Path | None, ack_after: float, no_ack: bool,
                   jobs: int | None) -> None:
    """The alarm burden of a profile on a simulated population: per rule and priority, alarms
    per session, sessions with a high alarm, time in alarm, and the delay to the first high
    alarm for patients whose true blood pressure reached the crisis range."""
    import os
    from datetime import timedelta

    from simulators.burden import replay_population, summarise
    from simulators.burden_report import format_table, to_html
    from vitals.profile_loader import load_profile

    path = profile_path if profile_path is not None else load_settings().profile
    profile = _run(load_profile, path)
    acknowledge = None if no_ack else timedelta(minutes=ack_after)
    sessions = replay_population(population, seed, profile, ack_after=acknowledge,
                                 jobs=jobs or os.cpu_count() or 1)
    summary = summarise(sessions, profile=profile.source_path, seed=seed, ack_after=acknowledge)
    click.echo(format_table(summary))
    if html_path is not None:
        try:
            html_path.write_text(to_html(summary), encoding="utf-8")
        except OSError as err:
            raise Failure(f"cannot write {html_path}: {err.strerror}") from err
        click.echo(f"\nHTML report: {html_path}")


@main.group()
def user() -> None:
    """Dashboard logins (stored hashed in VITALS_DATA_DIR/users.sqlite3)."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["monitor", "clinician", "admin"]), default="monitor",
              show_default=True, help="monitor: watch and acknowledge; clinician: also review, "
              "export, sign off; admin: also manage users.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input (required; never as an argument).")
def user_add(name: str, role: str, password_stdin: bool) -> None:
    """Create or update the dashboard login NAME; the password is read from standard input."""
    from vitals.users import ensure_user

    if not password_stdin:
        raise Failure("pass --password-stdin and the password on standard input")
    # One line: the password, without its line ending (echo adds one).
    password = sys.stdin.readline().rstrip("\r\n")
    path, saved = _change_login(ensure_user, name, password, role)
    click.echo(f"login {saved.name!r} saved with role {saved.role.value} in {path}")


@user.command("list")
def user_list() -> None:
    """Print each dashboard login: name, role, and whether it is disabled."""
    from vitals.users import list_users, users_path

    for login in list_users(users_path(load_settings())):
        click.echo(f"{login.name}\t{login.role.value}\t{'active' if login.active else 'disabled'}")


@user.command("disable")
@click.argument("name")
def user_disable(name: str) -> None:
    """Disable the login NAME: it cannot log in, and its open sessions end at their next click."""
    from vitals.users import set_active

    _change_login(set_active, name, False)
    click.echo(f"login {name!r} disabled")


@user.command("enable")
@click.argument("name")
def user_enable(name: str) -> None:
    """Enable the disabled login NAME again."""
    from vitals.users import set_active

    _change_login(set_active, name, True)
    click.echo(f"login {name!r} enabled")


def _change_login(change: Any, *args: Any) -> tuple[Path, Any]:
    """Run one of vitals.users' changes on the configured users file, as the command line (the
    same functions the dashboard's users page calls); refusals become one line, exit 1."""
    import getpass

    from vitals.users import COMMAND_LINE, InvalidUser, users_path

    try:
        actor = f"{COMMAND_LINE} ({getpass.getuser()})"
    except (OSError, KeyError):  # no user name in this container
        actor = COMMAND_LINE
    path = users_path(load_settings())
    try:
        return path, change(path, *args, actor=actor)
    except InvalidUser as err:
        raise Failure(str(err)) from err
    except (OSError, sqlite3.Error) as err:
        raise Failure(f"cannot write {path} (check VITALS_DATA_DIR): {err}") from err


@main.group()
def bridge() -> None:
    """Bridges from devices to MQTT."""


@bridge.command("ble")
@click.option("--bindings", "bindings_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file binding device addresses or names to sessions "
                   "([devices] \"<address or name>\" = \"<session>\").")
@click.option("--mqtt-url", help="Broker; default VITALS_MQTT_URL.")
def bridge_ble(bindings_path: Path, mqtt_url: str | None) -> None:
    """Forward standard Bluetooth cuffs, heart-rate sensors and oximeters to MQTT (needs bleak)."""
    from bridges.bindings import BindingError, load_bindings
    from bridges.ble import BridgeError, run_bridge

    settings = load_settings(mqtt_url=mqtt_url)
    try:
        bindings = load_bindings(bindings_path)
        count = _run(run_bridge, settings, bindings)
    except (BindingError, BridgeError) as err:
        raise Failure(str(err)) from err
    log.info("BLE bridge stopped after publishing %s value(s)", count)


def _run(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a role; turn unreachable services into one line naming what to fix, exit 1."""
    from vitals.errors import ServiceUnavailable
    from vitals.profile_loader import ProfileError

    try:
        return function(*args, **kwargs)
    except (ServiceUnavailable, ProfileError) as err:
        raise Failure(str(err)) from err
    except KeyboardInterrupt:
        log.info("interrupted")
        return None

