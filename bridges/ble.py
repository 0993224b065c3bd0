"""Bluetooth LE bridge: standard cuffs, heart-rate sensors and oximeters -> raw GATT over MQTT.

`vitals bridge ble` scans for devices, connects to the ones bound to a session, subscribes to
their measurement characteristics and publishes each value, byte for byte, to
`<prefix>/<session>/gatt/<uuid16>` (QoS 1). The ingest decodes it (`vitals.gatt`), so the bridge
holds no measurement logic and any other gateway can take its place.

Layers, so that all but the radio can be tested without Bluetooth:
- pure: the bindings (`bridges.bindings`), the profile table
  (`PROFILES`), topics (`gatt_topic`), the Date Time value for `set_clock` (`date_time_value`);
- `Bridge`: the scan/connect/subscribe/reconnect loop, written against the small `BleLink`
  interface (a fake in tests, `BleakLink` in production);
- `BleakLink`: the only code that talks to `bleak`, imported lazily (`pip install bleak`).

Bindings file (TOML): device address (case-insensitive) or advertised name -> session.

    [devices]
    "D0:1F:5B:00:11:22" = "room-3"
    "BLESmart_0000021F" = { session = "room-4", pair = true, set_clock = true }
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

import paho.mqtt.client as mqtt

from bridges.bindings import Binding, match_binding
from vitals.gatt import CuffPressure, decode, uuid16_of
from vitals.gatt_primitives import GattError
from vitals.mqtt import make_client
from vitals.readings import SESSION_ID
from vitals.settings import Settings

logger = logging.getLogger(__name__)

# Service -> the characteristics we subscribe to, in the order we subscribe.
PROFILES: Final[Mapping[str, tuple[str, ...]]] = {
    "1810": ("2a35", "2a36"),  # Blood Pressure: measurement (indicate), cuff pressure (notify)
    "180d": ("2a37",),  # Heart Rate: measurement (notify)
    "1822": ("2a5e", "2a5f"),  # Pulse Oximeter: spot-check (indicate), continuous (notify)
}
SERVICE_NAMES: Final[Mapping[str, str]] = {
    "1810": "blood pressure", "180d": "heart rate", "1822": "pulse oximeter",
}
# Intermediate cuff pressure is progress while the cuff inflates: logged, never published.
# The bridge publishes `gatt_topic(prefix, session, uuid16)` for these alone: the ACL's sample
# bridge account (deploy/mosquitto/acl) must let it write each.
FORWARDED: Final = frozenset({"2a35", "2a37", "2a5e", "2a5f"})
DATE_TIME: Final = "2a08"  # Blood Pressure service Date Time, writable on some cuffs (A&D)

CONNECT_TIMEOUT: Final = 10.0  # seconds for the MQTT broker's CONNACK
FLUSH_TIMEOUT: Final = 10.0  # seconds to wait for outstanding PUBACKs when stopping
RETRY_DELAY: Final = 5.0  # seconds before trying a device again after a failed connection


class BridgeError(RuntimeError):
    """The bridge cannot run (no Bluetooth, no bleak, no broker, a bad bindings file)."""


# --- Pure parts -------------------------------------------------------------------------------


def supported_services(service_uuids: Iterable[str]) -> tuple[str, ...]:
    """The advertised services we know (16-bit, lower case), in the order of `PROFILES`."""
    advertised = {uuid16_of(uuid) for uuid in service_uuids}
    return tuple(service for service in PROFILES if service in advertised)


def subscriptions(characteristics: Iterable[str]) -> tuple[str, ...]:
    """The characteristics (16-bit) of a connected device that we subscribe to."""
    offered = {uuid16_of(uuid) for uuid in characteristics}
    return tuple(c for chars in PROFILES.values() for c in chars if c in offered)


def gatt_topic(prefix: str, session: str, uuid16: str) -> str:
    """`<prefix>/<session>/gatt/<uuid16>`, the contract's raw GATT topic."""
    if not SESSION_ID.match(session):
        raise ValueError(f"session id must be 1 to 64 characters of A-Z a-z 0-9 _ -, "
                         f"got {session!r}")
    short = uuid16_of(uuid16)
    if short is None:
        raise ValueError(f"not a 16-bit Bluetooth UUID: {uuid16!r}")
    return f"{prefix}/{session}/gatt/{short}"


def date_time_value(moment: datetime) -> bytes:
    """A GATT Date Time (year uint16 LE, month, day, hours, minutes, seconds) of wall time."""
    return moment.year.to_bytes(2, "little") + bytes(
        (moment.month, moment.day, moment.hour, moment.minute, moment.second))


# --- The BLE interface ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Advertisement:
    address: str
    name: str | None
    service_uuids: tuple[str, ...] = ()


class BleConnection(Protocol):
    """One connected device."""

    @property
    def characteristics(self) -> frozenset[str]:
        """UUIDs (any form `uuid16_of` reads) of the characteristics the device offers."""
        ...

    def writable(self, uuid16: str) -> bool: ...

    async def subscribe(self, uuid16: str, callback: Callable[[bytes], None]) -> None:
        """Enable notifications/indications; `callback(value)` runs for each value."""
        ...

    async def write(self, uuid16: str, value: bytes) -> None: ...

    async def disconnected(self) -> None:
        """Return when the device has gone (out of range, switched off, closed)."""
        ...

    async def close(self) -> None: ...


class BleLink(Protocol):
    """The radio: advertisements in, connections out."""

    def advertisements(self) -> AsyncIterator[Advertisement]:
        """Scan until cancelled; raise `BridgeError` if Bluetooth is not available."""
        ...

    async def connect(self, address: str, *, pair: bool) -> BleConnection: ...


# --- The bridge loop --------------------------------------------------------------------------


Publish = Callable[[str, bytes], None]


class Bridge:
    """Connects bound devices as they advertise; forwards their values; reconnects.

    One task per connected device. A device that drops is connected again the next time it
    advertises (cuffs advertise after each measurement), after `retry_delay` if it failed.
    """

    def __init__(self, link: BleLink, bindings: Iterable[Binding], publish: Publish, *,
                 prefix: str = "vitals", retry_delay: float = RETRY_DELAY,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = datetime.now) -> None:
        self.link = link
        self.bindings = tuple(bindings)
        self.publish = publish
        self.prefix = prefix
        self.retry_delay = retry_delay
        self.clock = clock
        self.now = now  # local wall time, for set_clock
        self.connected: dict[str, Binding] = {}  # address -> binding, while connected
        self.published = 0
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._failed_at: dict[str, float] = {}
        self._reported: set[str] = set()

    async def run(self) -> None:
        """Scan and serve until cancelled."""
        try:
            async for advert in self.link.advertisements():
                self._on_advertisement(advert)
        finally:
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _on_advertisement(self, advert: Advertisement) -> None:
        binding = match_binding(self.bindings, advert.address, advert.name)
        if binding is None:
            services = supported_services(advert.service_uuids)
            if services and advert.address not in self._reported:
                self._reported.add(advert.address)  # once per device, not per advertisement
                logger.info("found an unbound %s device %s (%s): bind it to a session to use it",
                            " / ".join(SERVICE_NAMES[s] for s in services), advert.address,
                            advert.name or "no name")
            return
        task = self._tasks.get(advert.address)
        if task is not None and not task.done():
            return
        failed = self._failed_at.get(advert.address)
        if failed is not None and self.clock() - failed < self.retry_delay:
            return
        self._tasks[advert.address] = asyncio.create_task(
            self._serve(advert.address, binding), name=f"ble {advert.address}")

    async def _serve(self, address: str, binding: Binding) -> None:
        try:
            connection = await self.link.connect(address, pair=binding.pair)
        except Exception as err:  # the radio fails in many ways; retry on the next advert
            self._failed_at[address] = self.clock()
            logger.warning("cannot connect to %s for session %s: %s; retrying when it "
                           "advertises again", address, binding.session, err)
            return
        self.connected[address] = binding
        try:
            await self._subscribe(address, binding, connection)
            await connection.disconnected()
            logger.info("%s (session %s) disconnected; waiting for it to advertise again",
                        address, binding.session)
        except Exception as err:  # a dropped link, a refused subscription: retry as above
            self._failed_at[address] = self.clock()
            logger.warning("lost %s (session %s): %s", address, binding.session, err)
        finally:
            self.connected.pop(address, None)
            with contextlib.suppress(Exception):
                await connection.close()

    async def _subscribe(self, address: str, binding: Binding,
                         connection: BleConnection) -> None:
        wanted = subscriptions(connection.characteristics)
        if not wanted:
            raise BridgeError("it offers none of the characteristics "
                              + ", ".join(c for chars in PROFILES.values() for c in chars))
        if binding.set_clock and connection.writable(DATE_TIME):
            # Before subscribing: cuffs stamp the stored values they send on subscription.
            await connection.write(DATE_TIME, date_time_value(self.now()))
            logger.info("set the clock of %s to this machine's local time", address)
        for uuid16 in wanted:
            await connection.subscribe(uuid16, self._forwarder(address, binding, uuid16))
        logger.info("connected to %s for session %s: %s", address, binding.session,
                    ", ".join(wanted))

    def _forwarder(self, address: str, binding: Binding, uuid16: str) -> Callable[[bytes], None]:
        topic = gatt_topic(self.prefix, binding.session, uuid16)

        def forward(value: bytes) -> None:
            if uuid16 not in FORWARDED:
                with contextlib.suppress(GattError):
                    decoded = decode(uuid16, value)
                    if isinstance(decoded, CuffPressure):
                        logger.debug("%s cuff pressure %g mmHg", address, decoded.mmhg)
                return
            # Forward even what we cannot decode: the ingest refuses it with a reason, visibly.
            self.publish(topic, bytes(value))
            self.published += 1
            logger.debug("%s -> %s: %s", address, topic, value.hex(" "))

        return forward


# --- bleak ------------------------------------------------------------------------------------


def _bleak() -> Any:
    try:
        import bleak  # type: ignore[import-not-found]  # optional extra
    except ImportError as err:
        raise BridgeError("the BLE bridge needs bleak: pip install bleak") from err
    return bleak


class BleakLink:
    """`BleLink` over bleak (BlueZ on Linux, CoreBluetooth on macOS, WinRT on Windows)."""

    def __init__(self, connect_timeout: float = 20.0) -> None:
        self._bleak = _bleak()
        self.connect_timeout = connect_timeout
        self._seen: dict[str, Any] = {}  # address -> BLEDevice from the scan

    async def advertisements(self) -> AsyncIterator[Advertisement]:
        # No service filter: a bound device is connected whatever it advertises, and some
        # cuffs put only manufacturer data in their advertisement.
        scanner = self._bleak.BleakScanner()
        try:
            await scanner.start()
        except self._bleak.exc.BleakError as err:
            raise BridgeError(f"cannot scan for Bluetooth devices: {err}") from err
        try:
            async for device, data in scanner.advertisement_data():
                self._seen[device.address] = device
                yield Advertisement(device.address, data.local_name or device.name,
                                    tuple(data.service_uuids))
        finally:
            with contextlib.suppress(Exception):
                await scanner.stop()

    async def connect(self, address: str, *, pair: bool) -> BleConnection:
        lost = asyncio.Event()
        client = self._bleak.BleakClient(
            self._seen.get(address, address),
            disconnected_callback=lambda _client: lost.set(),
            pair=pair,
            timeout=self.connect_timeout,
        )
        await client.connect()
        return _BleakConnection(client, lost)


class _BleakConnection:
    def __init__(self, client: Any, lost: asyncio.Event) -> None:
        self.client = client
        self.lost = lost
        self._by_uuid16 = {uuid16_of(c.uuid): c
                           for c in client.services.characteristics.values()}

    @property
    def characteristics(self) -> frozenset[str]:
        return frozenset(u for u in self._by_uuid16 if u)

    def writable(self, uuid16: str) -> bool:
        found = self._by_uuid16.get(uuid16)
        return found is not None and "write" in found.properties

    async def subscribe(self, uuid16: str, callback: Callable[[bytes], None]) -> None:
        await self.client.start_notify(self._by_uuid16[uuid16],
                                       lambda _char, data: callback(bytes(data)))

    async def write(self, uuid16: str, value: bytes) -> None:
        await self.client.write_gatt_char(self._by_uuid16[uuid16], value, response=True)

    async def disconnected(self) -> None:
        await self.lost.wait()

    async def close(self) -> None:
        if self.client.is_connected:
            await self.client.disconnect()


# --- Entry point ------------------------------------------------------------------------------


def run_bridge(settings: Settings, bindings: Iterable[Binding], *, link: BleLink | None = None,
               stop: threading.Event | None = None,
               on_ready: Callable[[Bridge], None] | None = None) -> int:
    """Run the bridge until `stop` is set (or Ctrl-C); return the number of values published.

    `settings` gives the broker and the topic prefix. `link` defaults to `BleakLink()`;
    `on_ready(bridge)` is called once the broker has accepted the connection. Raises
    `BridgeError` naming what to fix (bleak missing, broker unreachable, Bluetooth
    unavailable). Values are published with QoS 1; while the broker is away paho keeps them and
    sends them on reconnect; on stop, outstanding acknowledgements are awaited.
    """
    bindings = tuple(bindings)
    if not bindings:
        raise BridgeError("no device is bound to a session: give a bindings file with a "
                          "[devices] table")
    link = link or BleakLink()
    endpoint = settings.mqtt
    where = f"{endpoint.host}:{endpoint.port}"
    client = make_client(endpoint, inflight=100)
    connected = threading.Event()
    refusal: list[str] = []
    pending: list[mqtt.MQTTMessageInfo] = []

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            refusal.append(str(reason))
        connected.set()

    client.on_connect = on_connect
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    try:
        client.connect(endpoint.host, endpoint.port)
    except (OSError, ValueError) as err:
        raise BridgeError(f"cannot connect to the MQTT broker at {where} "
                          f"(VITALS_MQTT_URL): {err}") from err
    client.loop_start()
    try:
        if not connected.wait(CONNECT_TIMEOUT):
            raise BridgeError(f"the MQTT broker at {where} (VITALS_MQTT_URL) did not answer "
                              f"within {CONNECT_TIMEOUT:g} s")
        if refusal:
            raise BridgeError(f"the MQTT broker at {where} refused the bridge: {refusal[0]} "
                              "(check the user and password in VITALS_MQTT_URL)")

        def publish(topic: str, payload: bytes) -> None:
            pending[:] = [info for info in pending if not info.is_published()]
            pending.append(client.publish(topic, payload, qos=1))

        bridge = Bridge(link, bindings, publish, prefix=settings.topic_prefix)
        logger.info("BLE bridge publishing to %s for %d bound device(s)", where, len(bindings))
        if on_ready is not None:
            on_ready(bridge)
        asyncio.run(_until_stopped(bridge, stop or threading.Event()))
        _flush(pending, where)
        return bridge.published
    finally:
        client.disconnect()  # first, so that the network thread ends without waiting
        client.loop_stop()


def _flush(pending: list[mqtt.MQTTMessageInfo], where: str) -> None:
    """Wait for the broker to acknowledge what was published before we disconnect."""
    deadline = time.monotonic() + FLUSH_TIMEOUT
    for info in pending:
        with contextlib.suppress(RuntimeError, ValueError):
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
    unacknowledged = sum(not info.is_published() for info in pending)
    if unacknowledged:
        logger.error("%d value(s) were not acknowledged by the MQTT broker at %s before the "
                     "bridge stopped", unacknowledged, where)


async def _until_stopped(bridge: Bridge, stop: threading.Event) -> None:
    running = asyncio.create_task(bridge.run())
    stopping = asyncio.create_task(asyncio.to_thread(stop.wait))
    try:
        done, _ = await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if running in done:
            running.result()  # a scan that failed raises here
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        if not stopping.done():
            stop.set()  # release the waiting thread, so asyncio.run can finish
            await stopping
