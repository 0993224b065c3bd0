"""The ingest's paho client (`ingest.fast_client.IngestClient`) reads the broker's stream in
chunks: every message arrives whole, in order, byte for byte, whatever chunk boundary it
straddles. Every other client of the project is plain paho."""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from services import MosquittoServer, wait_until

from ingest.fast_client import READ_CHUNK_BYTES, IngestClient
from vitals.mqtt import make_client
from vitals.settings import MqttEndpoint


def ingest_client(endpoint: MqttEndpoint, *args, **options) -> IngestClient:
    client = make_client(endpoint, *args, client_class=IngestClient, **options)
    assert isinstance(client, IngestClient)
    return client


def test_only_the_ingest_worker_uses_the_client_that_reaches_into_paho() -> None:
    root = Path(__file__).resolve().parents[1]
    users = sorted(str(path.relative_to(root)) for folder in ("vitals", "ingest", "dashboard",
                                                             "simulators", "benchmarks")
                   for path in (root / folder).rglob("*.py")
                   if "from ingest.fast_client import" in path.read_text())
    assert users == ["ingest/worker.py"]


def test_the_default_client_is_plain_paho() -> None:
    assert type(make_client(MqttEndpoint.parse("mqtt://127.0.0.1:1"))) is mqtt.Client


def _started(client, endpoint: MqttEndpoint) -> None:
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()


@contextmanager
def _closing(*clients):
    """Each client disconnected and its loop stopped after the block, whatever happened in it."""
    try:
        yield
    finally:
        for client in clients:
            client.disconnect()
            client.loop_stop()


def _recording(client) -> list[bytes]:
    """The payloads `client` receives, in the order they arrive."""
    received: list[bytes] = []
    client.on_message = lambda _c, _u, m: received.append(bytes(m.payload))
    return received


def _connected(client, endpoint: MqttEndpoint, subscription: str, qos: int = 1) -> None:
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    _started(client, endpoint)
    client.subscribe(subscription, qos=qos)
    assert subscribed.wait(10), "no SUBACK"


def _publish_all_in_order(sender, receiver, endpoint: MqttEndpoint, topic: str, count: int,
                          received: list[bytes], timeout: float) -> None:
    """`count` QoS 1 publications from `sender`: each acknowledged, each delivered, in order."""
    _connected(receiver, endpoint, topic)
    _started(sender, endpoint)
    infos = [sender.publish(topic, str(n).encode(), qos=1) for n in range(count)]
    wait_until(lambda: all(info.is_published() for info in infos), timeout,
               "every publication acknowledged")
    wait_until(lambda: len(received) >= count, timeout, "every publication delivered")
    assert received == [str(n).encode() for n in range(count)]


def test_messages_straddling_read_chunks_arrive_whole_and_in_order(mosquitto: MosquittoServer):
    endpoint = MqttEndpoint.parse(mosquitto.url)
    # Small messages by the thousand (many per chunk, some cut by a chunk's end) and a few
    # larger than a whole chunk.
    sizes = [1, 7, 300, READ_CHUNK_BYTES + 5, 2, 3 * READ_CHUNK_BYTES, 64] + [
        1 + n % 500 for n in range(3000)]
    sent = [bytes([n % 251]) * size for n, size in enumerate(sizes)]
    receiver = ingest_client(endpoint)
    received = _recording(receiver)
    sender = make_client(endpoint, inflight=100)
    with _closing(sender, receiver):
        _connected(receiver, endpoint, "chunks/test")
        _started(sender, endpoint)
        for payload in sent:
            sender.publish("chunks/test", payload, qos=1)
        wait_until(lambda: len(received) >= len(sent), 60, "every message received")
        assert received == sent
        assert type(receiver.socket()).__name__ == "_ChunkedReader", (
            "paho no longer creates its socket through _create_socket: reads are unchunked")


def test_a_held_client_reads_nothing_until_released_and_then_everything(
        mosquitto: MosquittoServer):
    endpoint = MqttEndpoint.parse(mosquitto.url)
    held = threading.Event()
    receiver = ingest_client(endpoint, hold=held.is_set)
    received = _recording(receiver)
    sender = make_client(endpoint)
    with _closing(sender, receiver):
        _connected(receiver, endpoint, "hold/test")
        held.set()
        _started(sender, endpoint)
        infos = [sender.publish("hold/test", str(n).encode(), qos=1) for n in range(50)]
        for info in infos:
            info.wait_for_publish(10)
        # Absence can only be observed over a while: the broker has had the messages since
        # their PUBACKs, and a held receiver must still show none.
        assert not threading.Event().wait(0.5)
        assert received == []
        held.clear()
        wait_until(lambda: len(received) == 50, 30, "the held messages after release")
        assert received == [str(n).encode() for n in range(50)]


def test_whole_publishes_skip_pahos_generic_path_and_keep_their_flags(mosquitto: MosquittoServer):
    """The guard on the private hook `_packet_read`: if paho stops calling it, messages still
    arrive but each costs paho's generic path again; this test then fails."""
    endpoint = MqttEndpoint.parse(mosquitto.url)
    sender = make_client(endpoint)
    _started(sender, endpoint)
    receiver = ingest_client(endpoint)
    generic = []
    handle_publish = receiver._handle_publish
    receiver._handle_publish = lambda: (generic.append(1), handle_publish())[1]
    received: list[tuple[str, bytes, int, bool]] = []
    receiver.on_message = lambda _c, _u, m: received.append(
        (m.topic, bytes(m.payload), m.qos, m.retain))
    with _closing(sender, receiver):
        sender.publish("fast/retained", b"kept", qos=1, retain=True).wait_for_publish(10)
        _connected(receiver, endpoint, "fast/#")
        wait_until(lambda: len(received) == 1, 10, "the retained message")
        infos = [sender.publish(f"fast/{n % 3}", str(n).encode(), qos=n % 2)
                 for n in range(2000)]
        for info in infos:
            info.wait_for_publish(10)
        wait_until(lambda: len(received) == 2001, 30, "every message")
        assert received[0] == ("fast/retained", b"kept", 1, True)
        for qos in (0, 1):  # the broker keeps the order within a QoS, not across them
            assert [m for m in received[1:] if m[2] == qos] == [
                (f"fast/{n % 3}", str(n).encode(), qos, False) for n in range(qos, 2000, 2)]
        # Only a packet cut by a chunk's end goes paho's way.
        assert len(generic) < 100, f"{len(generic)} of 2001 publishes took paho's generic path"


def test_per_filter_callbacks_still_get_their_messages(mosquitto: MosquittoServer):
    endpoint = MqttEndpoint.parse(mosquitto.url)
    receiver = ingest_client(endpoint)
    filtered: list[bytes] = []
    other: list[bytes] = []
    receiver.message_callback_add("cb/special", lambda _c, _u, m: filtered.append(m.payload))
    receiver.on_message = lambda _c, _u, m: other.append(m.payload)
    sender = make_client(endpoint)
    with _closing(sender, receiver):
        _connected(receiver, endpoint, "cb/#")
        _started(sender, endpoint)
        for n in range(20):
            sender.publish("cb/special" if n % 2 else "cb/plain", str(n).encode(), qos=1)
        wait_until(lambda: len(filtered) + len(other) == 20, 10, "every message")
        assert filtered == [str(n).encode() for n in range(1, 20, 2)]
        assert other == [str(n).encode() for n in range(0, 20, 2)]


def test_messages_acknowledged_in_bulk_are_not_redelivered_and_the_others_are(
        mosquitto: MosquittoServer):
    endpoint = MqttEndpoint.parse(mosquitto.url)
    client_id = f"bulk-{threading.get_ident()}"
    sender = make_client(endpoint)
    received: list[tuple[bytes, int]] = []

    def consumer():
        client = ingest_client(endpoint, client_id, persistent=True, manual_ack=True,
                               inflight=500)
        client.on_message = lambda _c, _u, m: received.append((bytes(m.payload), m.mid))
        return client

    first = consumer()
    with _closing(first):
        _connected(first, endpoint, "bulk/test")
        _started(sender, endpoint)
        for n in range(300):
            sender.publish("bulk/test", str(n).encode(), qos=1)
        wait_until(lambda: len(received) == 300, 30, "every message")
        first.ack_all([mid for _, mid in received[:200]])
        # The acknowledgements are on the wire once a later request has its answer (TCP keeps
        # the order): a subscription's SUBACK.
        subscribed = threading.Event()
        first.on_subscribe = lambda *_: subscribed.set()
        first.subscribe("bulk/other", qos=1)
        assert subscribed.wait(10), "no SUBACK"
    redelivered = len(received)
    second = consumer()
    with _closing(sender, second):
        _started(second, endpoint)  # the session keeps the subscription
        wait_until(lambda: len(received) == redelivered + 100, 30, "the unacknowledged ones")
        # And no more: the broker resends a resumed session's unacknowledged messages before
        # anything new, so once a marker sent now arrives, nothing else was redelivered.
        sender.publish("bulk/test", b"marker", qos=1)
        wait_until(lambda: received[-1][0] == b"marker", 30, "the marker")
        assert [payload for payload, _ in received[redelivered:]] == [
            str(n).encode() for n in range(200, 300)] + [b"marker"]


def test_publications_beyond_the_window_all_go_out_in_order_within_the_window(
        mosquitto: MosquittoServer):
    """`IngestClient._update_inflight` (paho's walk, done in C) sends the queued publications
    as acknowledgements free the window: every one, oldest first, never more than the window."""
    endpoint = MqttEndpoint.parse(mosquitto.url)
    window, count = 5, 500
    receiver = make_client(endpoint)
    received = _recording(receiver)
    sender = ingest_client(endpoint, inflight=window)
    most_in_flight = 0

    def on_publish(*_args) -> None:
        nonlocal most_in_flight
        most_in_flight = max(most_in_flight, sender._inflight_messages)

    sender.on_publish = on_publish
    with _closing(sender, receiver):
        _publish_all_in_order(sender, receiver, endpoint, "window/test", count, received, 20)
        assert 1 <= most_in_flight <= window


def test_acknowledgements_of_our_publications_skip_pahos_generic_path_and_free_the_window(
        mosquitto: MosquittoServer):
    """The guard on the PUBACK fast path (`IngestClient._puback`): every publication beyond
    the window still goes out, oldest first, never more than the window at once, and paho's
    `_handle_pubackcomp` (a reason code and properties decoded per PUBACK, a walk of the
    window) sees only a PUBACK cut by a chunk's end."""
    endpoint = MqttEndpoint.parse(mosquitto.url)
    window, count = 5, 2000
    receiver = make_client(endpoint)
    received = _recording(receiver)
    sender = ingest_client(endpoint, inflight=window)
    generic: list[str] = []
    handle = sender._handle_pubackcomp
    sender._handle_pubackcomp = lambda cmd: (generic.append(cmd), handle(cmd))[1]
    most_in_flight = 0
    send = sender._send_publish

    def counted_send(*args, **kwargs):
        nonlocal most_in_flight
        most_in_flight = max(most_in_flight, sender._inflight_messages)
        return send(*args, **kwargs)

    sender._send_publish = counted_send
    with _closing(sender, receiver):
        _publish_all_in_order(sender, receiver, endpoint, "puback/test", count, received, 30)
        assert 1 <= most_in_flight <= window
        assert len(generic) < count // 10, f"{len(generic)} of {count} PUBACKs went paho's way"


def test_publications_queued_beyond_the_window_all_go_out_in_order_after_a_reconnect(
        mosquitto_factory):
    """A reconnect re-decides what is in flight and what queues (paho's reset): the queued
    publications the window had already collected go out after it, none lost, in order."""
    broker = mosquitto_factory()
    endpoint = MqttEndpoint.parse(broker.url)
    window, count = 5, 300
    released = threading.Event()
    receiver = make_client(endpoint, "reconnect-receiver", persistent=True)
    received = _recording(receiver)
    # Reads no more PUBACKs once 20 publications are settled: the rest stays queued, as the
    # window collected it, until the reconnect.
    sender = ingest_client(
        endpoint, "reconnect-sender", persistent=True, inflight=window,
        hold=lambda: not released.is_set() and len(sender._out_messages) <= count - 20)
    sender.reconnect_delay_set(min_delay=1, max_delay=1)
    receiver.reconnect_delay_set(min_delay=1, max_delay=1)
    with _closing(sender, receiver):
        _connected(receiver, endpoint, "reconnect/test")
        _started(sender, endpoint)
        infos = [sender.publish("reconnect/test", str(n).encode(), qos=1) for n in range(count)]
        wait_until(lambda: sum(info.is_published() for info in infos) >= 20, 10,
                   "the first acknowledgements (the window's queue collected)")
        assert len(sender._queued) > 0
        broker.restart()
        released.set()
        wait_until(lambda: all(info.is_published() for info in infos), 60,
                   "every publication acknowledged after the reconnect")
        wait_until(lambda: len(set(received)) >= count, 60, "every publication delivered")
        # QoS 1: one in flight at the restart may come twice; first arrivals keep the order.
        first_arrivals = list(dict.fromkeys(received))
        assert first_arrivals == [str(n).encode() for n in range(count)]


@pytest.mark.parametrize("client_class", [mqtt.Client, IngestClient])
def test_a_callback_that_raises_is_logged_and_the_next_message_still_arrives(
        mosquitto: MosquittoServer, client_class, caplog) -> None:
    """paho ends its network loop on a callback's exception unless told otherwise: every later
    message (alarms, the live feed) would stop while the process looked alive."""
    endpoint = MqttEndpoint.parse(mosquitto.url)
    topic = f"test/raising-{client_class.__name__}"
    receiver = make_client(endpoint, client_class=client_class)
    sender = make_client(endpoint)
    received: list[bytes] = []

    def on_message(_client, _userdata, message: mqtt.MQTTMessage) -> None:
        received.append(bytes(message.payload))
        if message.payload == b"first":
            raise RuntimeError("a callback's bug")

    receiver.on_message = on_message
    with caplog.at_level(logging.ERROR, logger="paho"), _closing(receiver, sender):
        _connected(receiver, endpoint, topic)
        _started(sender, endpoint)
        for payload in (b"first", b"second"):
            sender.publish(topic, payload, qos=1).wait_for_publish(10)
        wait_until(lambda: received == [b"first", b"second"], 10, "the message after the raise")
    assert "a callback's bug" in caplog.text
