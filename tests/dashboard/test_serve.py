"""`vitals dashboard` serves with waitress, a production WSGI server, not Werkzeug's
development server (#16 item 14): run for real, on the embedded store and the suite's broker."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from services import HOST, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


def answer(url: str) -> dict[str, str] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return dict(response.headers)
    except urllib.error.HTTPError as err:  # a login redirect or a 401 is an answer too
        return dict(err.headers)
    except OSError:
        return None


def test_vitals_dashboard_is_served_by_waitress(mosquitto, tmp_path) -> None:
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "VITALS_MQTT_URL": mosquitto.url, "VITALS_DATA_DIR": str(tmp_path / "data")}
    server = subprocess.Popen([sys.executable, "-m", "vitals", "dashboard", "--host", HOST,
                               "--port", str(port)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://{HOST}:{port}/login"
        wait_until(lambda: answer(url) is not None or server.poll() is not None, 30,
                   "the dashboard to answer")
        headers = answer(url)
        assert headers is not None, f"the dashboard exited with {server.poll()}"
        assert headers.get("Server") == "vitals"  # waitress's `ident`; Werkzeug says "Werkzeug/…"
    finally:
        server.terminate()
        server.wait(timeout=30)
