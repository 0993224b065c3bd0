"""The outside check's comparison: a batched Node-RED flow draining the same backlog.

mqtt in (QoS 1, fixed client id, persistent session) → a function making each reading a point →
join (1000 messages or 0.5 s) → influxdb batch (node-red-contrib-influxdb, InfluxDB 1.x). Node-RED
and the influx nodes are installed on demand with `npm install --prefix` into a cache folder
outside the repository (nothing of it is committed); the flow file is written per run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

from services import free_port, wait_until

CACHE = Path(os.environ.get("VITALS_NODE_RED_CACHE",
                            Path.home() / ".cache" / "session-vitals" / "node-red"))
PACKAGES = ("node-red@4", "node-red-contrib-influxdb@0.7")
CLIENT_ID = "node-red-drain"
JOIN_COUNT, JOIN_SECONDS = 1000, 0.5  # the outside check's join
CONNECTED = "Connected to broker"  # the mqtt-broker node's log line


def installed() -> Path:
    """Node-RED's entry script, installing it into CACHE first if it is not there."""
    red = CACHE / "node_modules" / "node-red" / "red.js"
    if not red.exists() or not (CACHE / "node_modules" / "node-red-contrib-influxdb").exists():
        if shutil.which("npm") is None:
            raise RuntimeError("npm is needed to install Node-RED for the comparison")
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(CACHE), "--no-audit", "--no-fund",
                        *PACKAGES], check=True, stdout=subprocess.DEVNULL)
    return red


def flow(broker_port: int, influx_port: int, database: str, topic: str) -> list[dict]:
    """The flow as Node-RED's JSON: broker and database config nodes and four nodes in a row."""
    to_point = ("const p = msg.payload;\n"
                "msg.payload = {measurement: 'hr', tags: {session: msg.topic.split('/')[1],"
                " device: p.device}, fields: {bpm: p.bpm}, timestamp: new Date(p.time)};\n"
                "return msg;")
    return [
        {"id": "drain-tab", "type": "tab", "label": "drain"},
        {"id": "drain-broker", "type": "mqtt-broker", "name": "mosquitto", "broker": "127.0.0.1",
         "port": str(broker_port), "clientid": CLIENT_ID, "usetls": False,
         "protocolVersion": "4", "keepalive": "60", "cleansession": False,
         # Node-RED unsubscribes when it stops unless told not to: then the broker queues
         # nothing for it and the drain never finishes.
         "autoUnsubscribe": False,
         "autoConnect": True, "birthTopic": "", "closeTopic": "", "willTopic": ""},
        {"id": "drain-influx", "type": "influxdb", "hostname": "127.0.0.1",
         "port": str(influx_port),
         "protocol": "http", "database": database, "name": "influxd", "usetls": False,
         "influxdbVersion": "1.x"},
        {"id": "drain-in", "type": "mqtt in", "z": "drain-tab", "topic": topic, "qos": "1",
         "datatype": "json", "broker": "drain-broker", "nl": False, "rap": False, "rh": 0,
         "inputs": 0, "wires": [["drain-point"]]},
        {"id": "drain-point", "type": "function", "z": "drain-tab", "func": to_point, "outputs": 1,
         "wires": [["drain-join"]]},
        {"id": "drain-join", "type": "join", "z": "drain-tab", "mode": "custom", "build": "array",
         "property": "payload", "propertyType": "msg", "count": str(JOIN_COUNT),
         "timeout": str(JOIN_SECONDS), "joiner": "\\n", "joinerType": "str",
         "accumulate": False, "wires": [["drain-out"]]},
        {"id": "drain-out", "type": "influxdb batch", "z": "drain-tab", "influxdb": "drain-influx",
         "precision": "", "retentionPolicy": "", "wires": []},
    ]


class NodeRedProcess:
    """Node-RED running the flow, its user folder and log under `workdir`."""

    def __init__(self, workdir: Path, broker_port: int, influx_port: int, database: str,
                 topic: str) -> None:
        self.red = installed()
        self.user_dir = workdir / "node-red"
        self.user_dir.mkdir(parents=True, exist_ok=True)
        self.flow_path = self.user_dir / "flows.json"
        self.flow_path.write_text(json.dumps(flow(broker_port, influx_port, database, topic)))
        self.log_path = workdir / "node-red.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self._log_start = self.log_path.stat().st_size
        self.process = subprocess.Popen(
            ["node", str(self.red), "--userDir", str(self.user_dir), "--port",
             str(free_port()), str(self.flow_path)], stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def wait_connected(self, timeout: float = 60) -> None:
        assert self.process is not None
        wait_until(lambda: CONNECTED in self._log() or self.process.poll() is not None,
                   timeout, "Node-RED to connect to the broker")
        if self.process.poll() is not None:
            raise RuntimeError(f"Node-RED exited with {self.process.returncode}; log "
                               f"{self.log_path}")

    def _log(self) -> str:
        with self.log_path.open("rb") as f:
            f.seek(self._log_start)
            return f.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
