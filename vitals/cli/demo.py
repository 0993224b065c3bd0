"""`vitals demo`: the whole system in one process on the embedded default.

Embedded broker (unless a broker URL is given) → ingest worker → SQLite store → dashboard, fed by
the simulator with a few time-compressed sessions, one of which crosses a limit.

Its store and its logins (the demo login among them) live in `demo_data_dir`, never in the data
directory `vitals dashboard` and `vitals ingest` use, so the demo's well-known password cannot
open a real dashboard.
"""

from __future__ import annotations

import logging
import secrets
import signal
import threading
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr
from werkzeug.serving import make_server

from vitals.settings import Settings
from vitals.timefmt import utcnow

log = logging.getLogger(__name__)

DEMO_SCENARIOS = ("normal", "hypertensive-spike", "tachycardia", "desaturation")
# A clinician login for the demo's own data directory only; printed at start.
DEMO_LOGIN, DEMO_PASSWORD = "demo", "demo-vitals"


def run_demo(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8050,
    sessions: int = 4,
    speed: float = 30.0,
    seed: int = 7,
    embedded_broker: bool = True,
    loop: bool = False,
    stop: threading.Event | None = None,
    on_ready=None,
) -> None:
    """Run until Ctrl-C/SIGTERM (or `stop` is set); calls `on_ready(url, login, password)`.

    The simulated sessions end after `live_minutes` of wall time (their length / `speed`);
    with `loop`, new ones start each time they end (a fresh id prefix each run)."""
    from dashboard.app import create_app
    from dashboard.commands import Commands
    from dashboard.health import IngestStatus
    from ingest.worker import IngestWorker
    from notify.roster import Roster, load_roster
    from notify.worker import Notifier
    from simulators import publisher
    from vitals.broker import EmbeddedBroker
    from vitals.engine import AlertEngine
    from vitals.profile_loader import load_profile
    from vitals.storage import open_store
    from vitals.users import ensure_user, users_path

    settings = settings.model_copy(update={"data_dir": demo_data_dir(settings)})
    if settings.action_key is None:
        # Dashboard, simulator and ingest share the process: sign their actions (threat model).
        settings = settings.model_copy(update={"action_key": SecretStr(secrets.token_hex(32))})
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())

    with ExitStack() as running:
        if embedded_broker:
            broker = running.enter_context(EmbeddedBroker())
            settings = settings.model_copy(update={"mqtt_url": broker.url})
        if speed != 1:
            # The simulator's clock runs `speed` times faster than the wall clock, so its times
            # lead their receipt by design: this ingest trusts them (a real one would not).
            settings = settings.model_copy(update={"max_time_ahead_seconds": float("inf")})
        store = open_store(settings)
        running.callback(store.close)

        profile = load_profile(settings.profile)
        worker = IngestWorker(settings, store, AlertEngine(profile,
                                                           stale_seconds=settings.stale_seconds))
        worker.start()
        running.callback(worker.stop)

        # The notifier, with the roster of VITALS_NOTIFY_ROSTER if set, else one that notifies
        # nobody (the demo's alarms stay on the screen and in its log).
        notifier = Notifier(settings, load_roster(settings.notify_roster)
                            if settings.notify_roster else Roster(), store)
        notifier.start()
        running.callback(notifier.stop)

        commands = Commands(settings)
        commands.start()
        running.callback(commands.close)
        ingest_status = IngestStatus(settings)
        ingest_status.start()
        running.callback(ingest_status.close)
        ensure_user(users_path(settings), DEMO_LOGIN, DEMO_PASSWORD, "clinician")
        app = create_app(store, settings, profile=profile, commands=commands,
                         health=ingest_status.problem)
        server = make_server(host, port, app.server, threaded=True)
        threading.Thread(target=server.serve_forever, name="dashboard", daemon=True).start()
        running.callback(server.shutdown)
        url = f"http://{host}:{server.server_port}/"

        first_prefix = demo_prefix(utcnow())

        def simulate() -> None:
            prefix, run = first_prefix, 1
            while True:
                publisher.run(settings=settings, scenarios=DEMO_SCENARIOS, sessions=sessions,
                              speed=speed, seed=seed, stop=stop, session_prefix=prefix)
                if not loop or stop.is_set():
                    return
                run += 1  # in the id: runs within one minute must not share sessions
                prefix = f"{demo_prefix(utcnow())}r{run}"
                log.info("the simulated sessions ended; starting new ones (%s-...)", prefix)

        simulation = threading.Thread(target=simulate, name="simulator", daemon=True)
        simulation.start()
        running.callback(simulation.join, 30)

        log.info("dashboard: %s  (store: %s; broker: %s)", url,
                 settings.influx_url or settings.sqlite_path, settings.mqtt_url)
        log.info("simulated sessions: %s", ", ".join(
            publisher.session_ids(DEMO_SCENARIOS, sessions, first_prefix)))
        log.info("their live part lasts about %.1f min (%g times faster than real time), "
                 "then they end and leave the overview (the History page keeps them)%s",
                 live_minutes(sessions, speed, seed),
                 "; new ones start each time" if loop else "; --loop starts new ones each time")
        log.info("decision support only, not a medical device. Ctrl-C stops the demo.")
        if on_ready is not None:
            on_ready(url, DEMO_LOGIN, DEMO_PASSWORD)
        stop.wait()
        log.info("stopping the demo")


def live_minutes(sessions: int, speed: float, seed: int) -> float:
    """Wall-clock minutes from the demo's start to its last simulated message."""
    from simulators.publisher import plan

    start = utcnow()
    _chosen, messages = plan(DEMO_SCENARIOS, sessions, seed, start)
    last = max((m.time for m in messages), default=start)
    return (last - start).total_seconds() / speed / 60


def demo_data_dir(settings: Settings) -> Path:
    """`VITALS_DATA_DIR/demo`: the demo's own store and logins."""
    return settings.data_dir / "demo"


def demo_prefix(now: datetime) -> str:
    """Session ids of one demo run share a prefix, so runs never mix in the store."""
    return f"demo{now:%H%M}"
