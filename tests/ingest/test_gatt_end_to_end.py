"""Raw Bluetooth GATT values over real Mosquitto come back decoded through `vitals export`."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime

from click.testing import CliRunner
from services import wait_until

from vitals.cli import main
from vitals.mqtt import make_client
from vitals.settings import Settings

BP_WITH_STATUS = bytes.fromhex("14 76 00 4C 00 5A 00 48 00 02 00")  # 118/76/90, pulse 72, loose
HEART_RATE = bytes.fromhex("00 48")
SPO2_SPOT = bytes.fromhex("00 61 00 48 00")  # 97 %, 72 /min
TRUNCATED = bytes.fromhex("00 76 00 4C 00")


def cli_env(settings: Settings) -> dict[str, str | None]:
    return {"VITALS_MQTT_URL": settings.mqtt_url, "VITALS_INFLUX_URL": settings.influx_url,
            "VITALS_INFLUX_DB": settings.influx_db, "VITALS_DATA_DIR": str(settings.data_dir)}


def test_raw_gatt_values_are_stored_decoded_and_bad_ones_refused(
        sqlite_settings: Settings, session_id: str, worker_factory) -> None:
    _, store = worker_factory(sqlite_settings)
    rejected: list[dict] = []
    subscribed = threading.Event()
    client = make_client(sqlite_settings.mqtt, f"gatt-{uuid.uuid4().hex[:8]}")
    client.on_message = lambda _c, _u, m: rejected.append(json.loads(m.payload))
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect(sqlite_settings.mqtt.host, sqlite_settings.mqtt.port)
    client.loop_start()
    try:
        client.subscribe(f"vitals/{session_id}/rejected", qos=1)
        assert subscribed.wait(10)
        for leaf, value in [("2a35", BP_WITH_STATUS), ("2a37", HEART_RATE),
                            ("2a5e", SPO2_SPOT), ("2a35", TRUNCATED)]:
            client.publish(f"vitals/{session_id}/gatt/{leaf}", value, qos=1).wait_for_publish(10)
        wait_until(lambda: len(store.readings(session_id)) >= 3 and rejected
                   and store.alerts(session_id), 20,
                   "three readings, one rejection and the device-problem alarm")
    finally:
        client.disconnect()
        client.loop_stop()
    result = CliRunner().invoke(main, ["export", session_id, "--format", "json"],
                                env=cli_env(sqlite_settings), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    exported = json.loads(result.stdout)
    readings = {r["kind"]: r for r in exported["readings"]}
    # The cuff's "cuff too loose" status bit raised a technical (data) alarm.
    assert any(a["metric"] == "data" and a["state"] == "active" for a in exported["alerts"])
    assert {k: readings["bp"][k] for k in ("systolic", "diastolic", "mean_arterial", "pulse")} \
        == {"systolic": 118, "diastolic": 76, "mean_arterial": 90, "pulse": 72}
    assert readings["hr"]["bpm"] == 72
    assert (readings["spo2"]["spo2"], readings["spo2"]["pulse"]) == (97, 72)
    datetime.fromisoformat(readings["bp"]["time"].replace("Z", "+00:00"))  # receive time, RFC 3339
    assert rejected[0]["reason"] == "2A35 value is 5 bytes; it needs at least 7"
    assert rejected[0]["payload"] == "00 76 00 4c 00"
