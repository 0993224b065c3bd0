"""The BLE bridge: bindings, topics and the scan/connect/forward/reconnect loop.

The radio is behind `BleLink`; these tests drive the loop with a fake of that interface (no
Bluetooth here) and publish through a real Mosquitto. `BleakLink` itself is not exercised.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from services import wait_until

from bridges.bindings import Binding, BindingError, load_bindings, match_binding, parse_bindings
from bridges.ble import (
    Advertisement,
    BleakLink,
    Bridge,
    BridgeError,
    date_time_value,
    gatt_topic,
    run_bridge,
    subscriptions,
    supported_services,
)
from vitals.gatt import decode
from vitals.mqtt import make_client
from vitals.settings import Settings

CUFF = "D0:1F:5B:00:11:22"
BP_VALUE = bytes.fromhex("00 76 00 4C 00 5A 00")
BASE = "0000{}-0000-1000-8000-00805f9b34fb"  # how bleak spells a 16-bit SIG UUID
TIMEOUT = 10.0

# --- Pure parts -------------------------------------------------------------------------------


@pytest.mark.parametrize(("document", "expected"), [
    ({"devices": {CUFF: "room-3"}}, (Binding(CUFF, "room-3"),)),
    ({"devices": {"BLESmart_0000021F": {"session": "room-4", "pair": True, "set_clock": True}}},
     (Binding("BLESmart_0000021F", "room-4", pair=True, set_clock=True),)),
    ({"devices": {CUFF: "room-3", "Polar H10": {"session": "room-3"}}},
     (Binding(CUFF, "room-3"), Binding("Polar H10", "room-3"))),
])
def test_bindings_map_a_device_address_or_name_to_a_session(document, expected) -> None:
    assert parse_bindings(document) == expected


@pytest.mark.parametrize(("document", "reason"), [
    ({}, r"need a \[devices\] table"),
    ({"devices": {}}, r"need a \[devices\] table"),
    ({"devices": {CUFF: "room 3"}}, "session must be 1 to 64 characters"),
    ({"devices": {CUFF: {"pair": True}}}, "session must be"),
    ({"devices": {CUFF: 3}}, "expected a session id or a table"),
    ({"devices": {CUFF: {"session": "a", "pin": 1234}}}, "unknown key 'pin'"),
    ({"devices": {CUFF: {"session": "a", "pair": "yes"}}}, "pair must be true or false"),
    ({"devices": {CUFF: "a", CUFF.lower(): "b"}}, "bound twice"),
    ({"devices": {" ": "a"}}, "address or name is empty"),
])
def test_bindings_with_a_mistake_are_refused_naming_the_entry(document, reason: str) -> None:
    with pytest.raises(BindingError, match=reason):
        parse_bindings(document)


def test_bindings_file_is_read_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "bindings.toml"
    path.write_text(f'[devices]\n"{CUFF}" = "room-3"\n"UA-651" = {{ session = "room-4", '
                    'pair = true }\n', encoding="utf-8")
    assert load_bindings(path) == (Binding(CUFF, "room-3"), Binding("UA-651", "room-4", True))


@pytest.mark.parametrize(("text", "reason"), [
    ("[devices\n", "is not valid TOML"),
    ('[devices]\n"x" = "no spaces allowed"\n', "session must be"),
])
def test_bad_bindings_file_is_refused_naming_the_file(tmp_path: Path, text: str,
                                                      reason: str) -> None:
    path = tmp_path / "bindings.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BindingError, match=f"{path}.*{reason}"):
        load_bindings(path)


def test_missing_bindings_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(BindingError, match=r"cannot read the bindings file .*missing\.toml"):
        load_bindings(tmp_path / "missing.toml")


BINDINGS = (Binding(CUFF, "room-3"), Binding("Polar H10", "room-4"),
            Binding("D0:1F:5B:00:11:99", "room-5"), Binding("SBM69", "room-6"))


@pytest.mark.parametrize(("address", "name", "session"), [
    (CUFF, None, "room-3"),
    (CUFF.lower(), "anything", "room-3"),  # addresses compare case-insensitively
    ("AA:AA:AA:AA:AA:AA", "Polar H10", "room-4"),  # by advertised name
    ("D0:1F:5B:00:11:99", "Polar H10", "room-5"),  # the address wins over the name
    ("AA:AA:AA:AA:AA:AA", "polar h10", None),  # names compare exactly
    ("AA:AA:AA:AA:AA:AA", None, None),
])
def test_device_is_matched_by_address_then_by_name(address: str, name: str | None,
                                                   session: str | None) -> None:
    binding = match_binding(BINDINGS, address, name)
    assert (binding.session if binding else None) == session


@pytest.mark.parametrize(("advertised", "services"), [
    ([BASE.format("1810")], ("1810",)),
    ([BASE.format("180d"), BASE.format("180a")], ("180d",)),
    (["1822", "0x1810"], ("1810", "1822")),
    ([BASE.format("fe95")], ()),
    ([], ()),
])
def test_supported_services_are_recognised_in_advertisements(advertised, services) -> None:
    assert supported_services(advertised) == services


@pytest.mark.parametrize(("offered", "wanted"), [
    ([BASE.format(u) for u in ("2a35", "2a36", "2a49", "2a08")], ("2a35", "2a36")),
    ([BASE.format("2a37"), BASE.format("2a38")], ("2a37",)),
    ([BASE.format("2a5f"), BASE.format("2a5e"), BASE.format("2a60")], ("2a5e", "2a5f")),
    ([BASE.format("2a19")], ()),
])
def test_measurement_characteristics_are_chosen_for_subscription(offered, wanted) -> None:
    assert subscriptions(offered) == wanted


@pytest.mark.parametrize(("prefix", "session", "uuid16", "topic"), [
    ("vitals", "room-3", "2a35", "vitals/room-3/gatt/2a35"),
    ("clinic", "room-3", BASE.format("2a37"), "clinic/room-3/gatt/2a37"),
    ("vitals", "s", "2A5E", "vitals/s/gatt/2a5e"),
])
def test_gatt_topic_follows_the_contract(prefix: str, session: str, uuid16: str,
                                         topic: str) -> None:
    assert gatt_topic(prefix, session, uuid16) == topic


@pytest.mark.parametrize(("session", "uuid16"), [("room/3", "2a35"), ("room-3", "heart")])
def test_gatt_topic_refuses_an_invalid_session_or_uuid(session: str, uuid16: str) -> None:
    with pytest.raises(ValueError):
        gatt_topic("vitals", session, uuid16)


def test_date_time_value_is_the_gatt_date_time_layout() -> None:
    value = date_time_value(datetime(2026, 11, 28, 17, 5, 9))
    assert value == bytes.fromhex("EA 07 0B 1C 11 05 09")
    # The layout the cuffs echo back in their timestamped measurements:
    assert decode("2a35", b"\x02" + BP_VALUE[1:] + value).device_time == datetime(
        2026, 11, 28, 17, 5, 9)


@pytest.mark.skipif(importlib.util.find_spec("bleak") is not None, reason="bleak is installed")
def test_bleak_link_without_bleak_says_how_to_install_it() -> None:
    with pytest.raises(BridgeError, match="pip install bleak"):
        BleakLink()


# --- The loop, with a fake radio --------------------------------------------------------------


class FakeDevice:
    """A device as the bridge sees it through `BleConnection`."""

    def __init__(self, characteristics: tuple[str, ...], writable: tuple[str, ...] = ()) -> None:
        self.characteristics = frozenset(BASE.format(c) for c in characteristics)
        self._writable = writable
        self.callbacks: dict[str, Callable[[bytes], None]] = {}
        self.writes: list[tuple[str, bytes]] = []
        self.events: list[str] = []
        self.lost = asyncio.Event()
        self.closed = False

    def writable(self, uuid16: str) -> bool:
        return uuid16 in self._writable

    async def subscribe(self, uuid16: str, callback: Callable[[bytes], None]) -> None:
        self.events.append(f"subscribe {uuid16}")
        self.callbacks[uuid16] = callback

    async def write(self, uuid16: str, value: bytes) -> None:
        self.events.append(f"write {uuid16}")
        self.writes.append((uuid16, value))

    async def disconnected(self) -> None:
        await self.lost.wait()

    async def close(self) -> None:
        self.closed = True


class FakeLink:
    """Advertisements come from a queue; `connect` hands out the next prepared device."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queue: asyncio.Queue[Advertisement] | None = None
        self.ready = threading.Event()
        self.devices: dict[str, list[FakeDevice | Exception]] = {}
        self.connects: list[tuple[str, bool]] = []
        self.current: dict[str, FakeDevice] = {}

    async def advertisements(self):
        self.loop = asyncio.get_running_loop()
        self.queue = asyncio.Queue()
        self.ready.set()
        while True:
            yield await self.queue.get()

    async def connect(self, address: str, *, pair: bool) -> FakeDevice:
        self.connects.append((address, pair))
        outcome = self.devices[address].pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        self.current[address] = outcome
        return outcome

    # Called from the test, on any thread:
    def advertise(self, address: str, name: str | None = None,
                  services: tuple[str, ...] = ("1810",)) -> None:
        assert self.ready.wait(TIMEOUT) and self.loop and self.queue
        advert = Advertisement(address, name, tuple(BASE.format(s) for s in services))
        self.loop.call_soon_threadsafe(self.queue.put_nowait, advert)

    def notify(self, address: str, uuid16: str, value: bytes) -> None:
        assert self.loop
        self.loop.call_soon_threadsafe(self.current[address].callbacks[uuid16], value)

    def drop(self, address: str) -> None:
        assert self.loop
        self.loop.call_soon_threadsafe(self.current[address].lost.set)


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def in_bridge(link: FakeLink, bindings: tuple[Binding, ...],
              scenario: Callable[[Bridge, list[tuple[str, bytes]]], Awaitable[None]],
              **options) -> list[tuple[str, bytes]]:
    """Run `scenario(bridge, published)` beside a running bridge; return what was published."""
    published: list[tuple[str, bytes]] = []

    async def main() -> None:
        bridge = Bridge(link, bindings, lambda t, p: published.append((t, p)), **options)
        running = asyncio.create_task(bridge.run())
        try:
            await until(link.ready.is_set, "the scan")
            await scenario(bridge, published)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    asyncio.run(main())
    return published


def test_bound_cuff_is_connected_and_its_measurement_forwarded_byte_for_byte() -> None:
    link = FakeLink()
    cuff = FakeDevice(("2a35", "2a36", "2a49"))
    link.devices[CUFF] = [cuff]

    async def scenario(bridge: Bridge, published: list[tuple[str, bytes]]) -> None:
        link.advertise(CUFF, "A&D_UA-651")
        await until(lambda: "subscribe 2a36" in cuff.events, "the subscriptions")
        link.notify(CUFF, "2a35", BP_VALUE)
        await until(lambda: bool(published), "a publication")

    published = in_bridge(link, (Binding(CUFF, "room-3"),), scenario)
    assert published == [("vitals/room-3/gatt/2a35", BP_VALUE)]
    assert cuff.events == ["subscribe 2a35", "subscribe 2a36"]
    assert cuff.closed  # the bridge closes its connections when it stops


def test_intermediate_cuff_pressure_is_not_published() -> None:
    link = FakeLink()
    cuff = FakeDevice(("2a35", "2a36"))
    link.devices[CUFF] = [cuff]

    async def scenario(bridge: Bridge, published: list[tuple[str, bytes]]) -> None:
        link.advertise(CUFF)
        await until(lambda: "subscribe 2a36" in cuff.events, "the subscriptions")
        link.notify(CUFF, "2a36", bytes.fromhex("00 96 00 FF 07 FF 07"))
        link.notify(CUFF, "2a35", BP_VALUE)  # in order after the cuff pressure
        await until(lambda: bool(published), "a publication")

    published = in_bridge(link, (Binding(CUFF, "room-3"),), scenario)
    assert [topic for topic, _ in published] == ["vitals/room-3/gatt/2a35"]


def test_each_device_publishes_under_its_own_session() -> None:
    link = FakeLink()
    strap, oximeter = FakeDevice(("2a37",)), FakeDevice(("2a5e", "2a5f"))
    link.devices = {"AA:00:00:00:00:01": [strap], "AA:00:00:00:00:02": [oximeter]}

    async def scenario(bridge: Bridge, published: list[tuple[str, bytes]]) -> None:
        link.advertise("AA:00:00:00:00:01", "Polar H10", ("180d",))
        link.advertise("AA:00:00:00:00:02", "PO3", ("1822",))
        await until(lambda: len(bridge.connected) == 2, "both connections")
        await until(lambda: "subscribe 2a5f" in oximeter.events, "the subscriptions")
        link.notify("AA:00:00:00:00:01", "2a37", b"\x00\x48")
        link.notify("AA:00:00:00:00:02", "2a5f", bytes.fromhex("00 61 00 48 00"))
        await until(lambda: len(published) == 2, "two publications")

    published = in_bridge(link, (Binding("Polar H10", "room-3"),
                                 Binding("AA:00:00:00:00:02", "room-4")), scenario,
                          prefix="clinic")
    assert sorted(published) == [("clinic/room-3/gatt/2a37", b"\x00\x48"),
                                 ("clinic/room-4/gatt/2a5f", bytes.fromhex("00 61 00 48 00"))]


def test_unbound_device_is_never_connected() -> None:
    link = FakeLink()

    async def scenario(bridge: Bridge, published: list[tuple[str, bytes]]) -> None:
        link.advertise("AA:AA:AA:AA:AA:AA", "Someone's cuff")
        link.advertise(CUFF)  # a marker: advertisements are handled in order
        await until(lambda: CUFF in bridge.connected, "the bound cuff")

    link.devices[CUFF] = [FakeDevice(("2a35",))]
    in_bridge(link, (Binding(CUFF, "room-3"),), scenario)
    assert link.connects == [(CUFF, False)]


def test_device_that_comes_back_is_connected_again() -> None:
    link = FakeLink()
    first, second = FakeDevice(("2a35",)), FakeDevice(("2a35",))
    link.devices[CUFF] = [first, second]

    async def scenario(bridge: Bridge, published: list[tuple[str, bytes]]) -> None:
        link.advertise(CUFF)
        await until(lambda: "subscribe 2a35" in first.events, "the first connection")
        link.advertise(CUFF)  # still connected: no second connection
        link.drop(CUFF)
        await until(lambda: CUFF not in bridge.connected, "the disconnection")
        link.advertise(CUFF)
        await until(lambda: "subscribe 2a35" in second.events, "the reconnection")
        link.notify(CUFF, "2a35", BP_VALUE)
        await until(lambda: bool(published), "a publication")

    published = in_bridge(link, (Binding(CUFF, "room-3", pair=True),), scenario)
    assert link.connects == [(CUFF, True), (CUFF, True)]
    assert first.closed
    assert published == [("vitals/room-3/gatt/2a35", BP_VALUE)]


def test_failed_connection_is_retried_only_after_the_retry_delay() -> None:
    link = FakeLink()
    cuff = FakeDevice(("2a35",))
    link.devices[CUFF] = [OSError("le-connection-abort-by-local"), cuff]
    now = [100.0]

    async def scenario(bridge: Bridge, published: list[tuple[str, bytes]]) -> None:
        link.advertise(CUFF)
        await until(lambda: len(link.connects) == 1 and CUFF in bridge._failed_at,
                    "the failed attempt")
        now[0] += 4.9
        link.advertise(CUFF)  # too soon: ignored
        now[0] += 0.2
        link.advertise(CUFF)
        await until(lambda: CUFF in bridge.connected, "the second attempt")

    in_bridge(link, (Binding(CUFF, "room-3"),), scenario, retry_delay=5.0,
              clock=lambda: now[0])
    assert len(link.connects) == 2


def test_set_clock_writes_local_time_before_subscribing() -> None:
    link = FakeLink()
    cuff = FakeDevice(("2a35", "2a08"), writable=("2a08",))
    plain = FakeDevice(("2a35", "2a08"), writable=("2a08",))
    link.devices = {CUFF: [cuff], "AA:00:00:00:00:09": [plain]}

    async def scenario(bridge: Bridge, published: list[tuple[str, bytes]]) -> None:
        link.advertise(CUFF)
        link.advertise("AA:00:00:00:00:09")
        await until(lambda: len(bridge.connected) == 2
                    and "subscribe 2a35" in cuff.events + plain.events, "both cuffs")
        await until(lambda: "subscribe 2a35" in plain.events, "the second cuff")

    in_bridge(link, (Binding(CUFF, "room-3", set_clock=True),
                     Binding("AA:00:00:00:00:09", "room-4")), scenario,
              now=lambda: datetime(2026, 11, 28, 17, 5, 9))
    assert cuff.events == ["write 2a08", "subscribe 2a35"]
    assert cuff.writes == [("2a08", bytes.fromhex("EA 07 0B 1C 11 05 09"))]
    assert plain.writes == []


def test_device_without_measurement_characteristics_is_let_go() -> None:
    link = FakeLink()
    battery_only = FakeDevice(("2a19",))
    link.devices[CUFF] = [battery_only]

    async def scenario(bridge: Bridge, published: list[tuple[str, bytes]]) -> None:
        link.advertise(CUFF)
        await until(lambda: battery_only.closed, "the connection to close")

    in_bridge(link, (Binding(CUFF, "room-3"),), scenario)
    assert battery_only.events == []


# --- run_bridge over a real Mosquitto ---------------------------------------------------------


@pytest.fixture
def raw_subscriber(sqlite_settings: Settings) -> Iterator[Callable[[str], list[tuple[str, bytes]]]]:
    """`raw_subscriber(filter)` -> a live list of (topic, payload bytes) received."""
    clients: list[mqtt.Client] = []

    def make(topic_filter: str) -> list[tuple[str, bytes]]:
        received: list[tuple[str, bytes]] = []
        subscribed = threading.Event()
        client = make_client(sqlite_settings.mqtt, f"raw-{uuid.uuid4().hex[:8]}")
        client.on_message = lambda _c, _u, m: received.append((m.topic, bytes(m.payload)))
        client.on_subscribe = lambda *_: subscribed.set()
        client.connect(sqlite_settings.mqtt.host, sqlite_settings.mqtt.port)
        client.loop_start()
        client.subscribe(topic_filter, qos=1)
        assert subscribed.wait(TIMEOUT), "subscription not acknowledged"
        clients.append(client)
        return received

    yield make
    for client in clients:
        client.disconnect()
        client.loop_stop()


def test_run_bridge_publishes_raw_values_to_the_broker(
        sqlite_settings: Settings, session_id: str, raw_subscriber) -> None:
    received = raw_subscriber(f"vitals/{session_id}/#")
    link = FakeLink()
    cuff = FakeDevice(("2a35",))
    link.devices[CUFF] = [cuff]
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(run_bridge(
        sqlite_settings, [Binding(CUFF, session_id)], link=link, stop=stop)))
    thread.start()
    try:
        link.advertise(CUFF)
        wait_until(lambda: "subscribe 2a35" in cuff.events, TIMEOUT, "the subscription")
        link.notify(CUFF, "2a35", BP_VALUE)
        link.notify(CUFF, "2a35", b"\x00\x76\x00")  # forwarded too: the ingest refuses it
        wait_until(lambda: len(received) == 2, TIMEOUT, "two messages at the broker")
    finally:
        stop.set()
        thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert received == [(f"vitals/{session_id}/gatt/2a35", BP_VALUE),
                        (f"vitals/{session_id}/gatt/2a35", b"\x00\x76\x00")]
    assert result == [2]


def test_run_bridge_without_a_broker_names_the_setting(tmp_path: Path) -> None:
    from services import free_port

    settings = Settings(mqtt_url=f"mqtt://127.0.0.1:{free_port()}", data_dir=tmp_path)
    with pytest.raises(BridgeError, match="VITALS_MQTT_URL"):
        run_bridge(settings, [Binding(CUFF, "room-3")], link=FakeLink())


def test_run_bridge_without_bindings_is_refused(sqlite_settings: Settings) -> None:
    with pytest.raises(BridgeError, match="no device is bound"):
        run_bridge(sqlite_settings, [], link=FakeLink())
