"""`vitals demo`: the whole system in one process on the embedded default.

Embedded broker (unless a broker URL is given) → ingest worker → SQLite store → dashboard, fed by
the simulator with a few time-compressed sessions, one of which crosses a limit.
"""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import ExitStack
from datetime import datetime

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
    stop: threading.Event | None = None,
    on_ready=None,
) -> None:
    """Run until Ctrl-C/SIGTERM (or `stop` is set); calls `on_ready(url, login, password)`."""
    from dashboard.app import create_app
    from dashboard.commands import Commands
    from dashboard.health import IngestStatus
    from ingest.worker import IngestWorker
    from notify.roster import Roster, load_roster
    from notify.worker import Notifier
    from simulators import publisher
    from vitals.broker import EmbeddedBroker
    from vitals.engine import AlertEngine
    from vitals.profile import load_profile
    from vitals.storage import open_store
    from vitals.users import ensure_user, users_path

    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())

    with ExitStack() as running:
        if embedded_broker:
            broker = running.enter_context(EmbeddedBroker())
            settings = settings.model_copy(update={"mqtt_url": broker.url})
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

        simulation = threading.Thread(
            target=publisher.run,
            name="simulator",
            kwargs={
                "settings": settings,
                "scenarios": DEMO_SCENARIOS,
                "sessions": sessions,
                "speed": speed,
                "seed": seed,
                "stop": stop,
                "session_prefix": demo_prefix(utcnow()),
            },
            daemon=True,
        )
        simulation.start()
        running.callback(simulation.join, 30)

        log.info("dashboard: %s  (store: %s; broker: %s)", url,
                 settings.influx_url or settings.sqlite_path, settings.mqtt_url)
        log.info("decision support only, not a medical device. Ctrl-C stops the demo.")
        if on_ready is not None:
            on_ready(url, DEMO_LOGIN, DEMO_PASSWORD)
        stop.wait()
        log.info("stopping the demo")


def demo_prefix(now: datetime) -> str:
    """Session ids of one demo run share a prefix, so runs never mix in the store."""
    return f"demo{now:%H%M}"
