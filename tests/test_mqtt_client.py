"""The project's paho client (`vitals.mqtt.make_client`) reads the broker's stream in chunks:
every message arrives whole, in order, byte for byte, whatever chunk boundary it straddles."""

from __future__ import annotations

import threading

from services import MosquittoServer, wait_until

from vitals.mqtt import READ_CHUNK_BYTES, make_client
from vitals.settings import MqttEndpoint


def test_messages_straddling_read_chunks_arrive_whole_and_in_order(mosquitto: MosquittoServer):
    endpoint = MqttEndpoint.parse(mosquitto.url)
    # Small messages by the thousand (many per chunk, some cut by a chunk's end) and a few
    # larger than a whole chunk.
    sizes = [1, 7, 300, READ_CHUNK_BYTES + 5, 2, 3 * READ_CHUNK_BYTES, 64] + [
        1 + n % 500 for n in range(3000)]
    sent = [bytes([n % 251]) * size for n, size in enumerate(sizes)]
    received: list[bytes] = []
    subscribed = threading.Event()
    receiver = make_client(endpoint)
    receiver.on_subscribe = lambda *_: subscribed.set()
    receiver.on_message = lambda _c, _u, m: received.append(bytes(m.payload))
    receiver.connect(endpoint.host, endpoint.port)
    receiver.loop_start()
    sender = make_client(endpoint, inflight=100)
    try:
        receiver.subscribe("chunks/test", qos=1)
        assert subscribed.wait(10), "no SUBACK"
        sender.connect(endpoint.host, endpoint.port)
        sender.loop_start()
        for payload in sent:
            sender.publish("chunks/test", payload, qos=1)
        wait_until(lambda: len(received) >= len(sent), 60, "every message received")
        assert received == sent
        assert type(receiver.socket()).__name__ == "_ChunkedReader", (
            "paho no longer creates its socket through _create_socket: reads are unchunked")
    finally:
        for client in (sender, receiver):
            client.disconnect()
            client.loop_stop()



def test_a_held_client_reads_nothing_until_released_and_then_everything(
        mosquitto: MosquittoServer):
    endpoint = MqttEndpoint.parse(mosquitto.url)
    held = threading.Event()
    received: list[bytes] = []
    subscribed = threading.Event()
    receiver = make_client(endpoint, hold=held.is_set)
    receiver.on_subscribe = lambda *_: subscribed.set()
    receiver.on_message = lambda _c, _u, m: received.append(bytes(m.payload))
    receiver.connect(endpoint.host, endpoint.port)
    receiver.loop_start()
    sender = make_client(endpoint)
    try:
        receiver.subscribe("hold/test", qos=1)
        assert subscribed.wait(10), "no SUBACK"
        held.set()
        sender.connect(endpoint.host, endpoint.port)
        sender.loop_start()
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
    finally:
        for client in (sender, receiver):
            client.disconnect()
            client.loop_stop()
