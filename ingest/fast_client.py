"""The ingest's MQTT client: paho's, reading the broker's stream in large chunks, acknowledging in
bulk, and pausing its reads while the worker holds too much.

The one module that reaches into paho's private names (`_packet_read`, `_create_socket`,
`_packet_queue`, `_in_packet`, `_msgtime_mutex`, `_update_inflight`, `_out_messages`,
`_messages_reconnect_reset_out`, ...), for a measured
reason: a drain (how soon the newest readings are judged after an outage) went from ~27,000
to ~45,000 readings/s with it (benchmarks/REPORT.md). paho-mqtt is pinned to 2.2.x for it, and
`tests/test_mqtt_client.py` fails if a paho release stops calling these hooks. Only the ingest
uses it; every other client of the project is plain paho (`vitals.mqtt.make_client`).
"""

from __future__ import annotations

import operator
import ssl
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable
from itertools import compress, repeat
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import mqtt_ms_queued, mqtt_ms_wait_for_puback, mqtt_ms_wait_for_pubrec

from vitals.mqtt import make_client
from vitals.settings import MqttEndpoint


def make_ingest_client(
    endpoint: MqttEndpoint,
    client_id: str,
    *,
    inflight: int,
    hold: Callable[[], bool] | None = None,
) -> IngestClient:
    """The ingest's persistent, manually acknowledging client.

    While `hold()` is true the client reads nothing more from the broker (it still sends):
    unread messages stay in the socket and TCP makes the broker wait.
    """
    client = make_client(endpoint, client_id, persistent=True, manual_ack=True,
                         inflight=inflight, client_class=IngestClient, hold=hold or _never)
    assert isinstance(client, IngestClient)
    return client


# Reads from the broker in chunks of this many bytes (a few hundred readings).
READ_CHUNK_BYTES = 64 * 1024
HOLD_PAUSE_SECONDS = 0.002  # how often a held client looks again whether it may read


def _never() -> bool:
    return False


_STATE = operator.attrgetter("state")
_new_message = object.__new__
_QUEUED = mqtt_ms_queued
_PUBACK = struct.Struct("!BBH")  # a PUBACK packet: type, remaining length 2, message id


class IngestClient(mqtt.Client):
    """paho's client, reading the broker's stream in large chunks and acknowledging in bulk.

    paho reads each packet with two or three `recv` calls (command byte, length bytes, body)
    and handles one packet per `select`; at thousands of messages a second those system calls,
    and the GIL hand-over each of them costs, are most of what receiving a message costs. Here
    the socket is read 64 KiB at a time and every packet already read is handled before the
    next `select`.

    A PUBLISH at QoS 0 or 1 (MQTT 3.1.1) that lies whole in a chunk is taken from it and handed
    to `on_message` directly (`_packet_read`, which also reads the next chunk): paho's generic
    path (a dict per packet, a `recv` per byte of length, a topic-filter walk for
    `message_callback_add`, a debug log line) costs several times what the message does.
    A PUBACK (MQTT 3.1.1) of one of our own publications is taken the same way: paho decodes a
    reason code and properties for each, which nobody reads here, and then walks its whole
    window to find what to send next. Everything else (any other packet, QoS 2, MQTT 5, a
    packet cut by the chunk's end, a client with per-filter callbacks or an `on_publish`) goes
    through paho.

    `ack_all` acknowledges many QoS 1 messages in one write: paho's `ack` queues, wakes the
    network thread and sends each 4-byte PUBACK on its own.
    """

    def __init__(self, *args: Any, hold: Callable[[], bool] = _never, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hold = hold
        # Publications found queued (beyond the window) by the last walk, oldest first: the
        # window takes them from here, and walks `_out_messages` again only when it runs dry.
        self._queued: deque[mqtt.MQTTMessage] = deque()

    def _create_socket(self):  # type: ignore[override]
        return _ChunkedReader(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        if self._hold():
            # The socket stays readable, so the network loop would spin: pause it a moment (it
            # goes on writing acknowledgements and publications between pauses).
            time.sleep(HOLD_PAUSE_SECONDS)
            return mqtt.MQTT_ERR_SUCCESS
        rc = super().loop_read(max_packets)  # reads one chunk from the socket if need be
        sock = self._sock
        if not isinstance(sock, _ChunkedReader):
            return rc
        # Then the packets already read, and no more: acknowledgements go out between chunks.
        sock.refill = False
        try:
            while rc == mqtt.MQTT_ERR_SUCCESS and sock.buffered and not self._hold():
                rc = super().loop_read(max_packets)
        finally:
            sock.refill = True
        return rc

    def _packet_read(self) -> mqtt.MQTTErrorCode:  # type: ignore[override]
        sock = self._sock
        if type(sock) is _ChunkedReader and self._in_packet["command"] == 0:
            if sock.refill and not sock.buffered:
                try:
                    sock.fill()
                except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    return mqtt.MQTT_ERR_AGAIN  # nothing to read now: paho's answer too
                except OSError as err:
                    self._easy_log(mqtt.MQTT_LOG_ERR, "failed to receive on socket: %s", err)
                    return mqtt.MQTT_ERR_CONN_LOST
            packet = sock.whole_packet()
            if packet is not None:
                command, body = packet
                with self._msgtime_mutex:
                    self._last_bytes_received = time.monotonic()  # what paho's keepalive reads
                if command & 0xF0 == mqtt.PUBACK:
                    rc = self._puback(body)
                    if rc is not None:
                        return rc
                elif self._deliver(command, body):
                    return mqtt.MQTT_ERR_SUCCESS
                sock.unread()  # paho's way: read it again, byte by byte
        return super()._packet_read()

    def _puback(self, body: bytes) -> mqtt.MQTTErrorCode | None:
        """The broker acknowledged one of our QoS 1 publications: settle it and send the next
        queued one, as paho's `_handle_pubackcomp` does; None: leave it to paho."""
        if self._protocol == mqtt.MQTTv5 or len(body) != 2 or self.on_publish is not None:
            return None  # a reason code or properties to decode, or a callback that wants them
        with self._out_message_mutex:
            message = self._out_messages.pop(int.from_bytes(body, "big"), None)
            if message is None:
                return mqtt.MQTT_ERR_SUCCESS  # not ours (any more): paho ignores it too
            message.info._set_as_published()
            if message.qos > 0:
                self._inflight_messages -= 1
                if self._max_inflight_messages > 0:
                    return self._update_inflight()
        return mqtt.MQTT_ERR_SUCCESS

    def _deliver(self, command: int, body: bytes) -> bool:
        """Hand a QoS 0/1 PUBLISH to `on_message` as paho would; False: leave it to paho."""
        qos = (command & 0x06) >> 1
        if (command & 0xF0 != mqtt.PUBLISH or qos > 1 or self._protocol == mqtt.MQTTv5
                or self._on_message_filtered._root._children):  # per-filter callbacks: paho
            return False
        topic_end = 2 + int.from_bytes(body[:2], "big")
        body_start = topic_end + 2 * qos  # QoS 1 carries a message id after the topic
        if topic_end == 2 or body_start > len(body):
            return False  # malformed: paho refuses it and drops the connection
        # Every slot set here, without `MQTTMessage.__init__`: that also builds a
        # `MQTTMessageInfo` (a `threading.Condition`), which only our own publications use.
        message = _new_message(mqtt.MQTTMessage)
        message.mid = int.from_bytes(body[topic_end:body_start], "big")
        message._topic = body[2:topic_end]
        message.dup = bool(command & 0x08)
        message.qos = qos
        message.retain = bool(command & 0x01)
        message.payload = body[body_start:]
        message.timestamp = time.monotonic()
        message.state = mqtt.mqtt_ms_invalid
        message.properties = None
        message.info = None  # type: ignore[assignment]  # a received message has no delivery
        on_message = self.on_message
        if on_message is not None:
            with self._in_callback_mutex:
                try:
                    on_message(self, self._userdata, message)
                except Exception as err:
                    self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                    if not self.suppress_exceptions:
                        raise
        if qos == 1 and not self._manual_ack:
            self._send_puback(message.mid)
        return True

    def _update_inflight(self) -> mqtt.MQTTErrorCode:  # type: ignore[override]
        """Send the oldest queued publications the window has room for, as paho does.

        paho walks the outgoing messages at every PUBACK, from the oldest, past the whole
        window in flight: a drain raising ~18,000 alarms behind a window of 1000 spent ~40% of
        the network thread there (issue 20), and still ~25% with the walk done in C. Here one
        walk (in C) collects every queued publication, oldest first, into `_queued`, and the
        PUBACKs that follow take from it; publications queued after the walk are younger than
        all of it, so the next walk, once it runs dry, keeps paho's order. Called with
        `_out_message_mutex` held, as paho calls it."""
        free = self._max_inflight_messages - self._inflight_messages
        if free <= 0 or len(self._out_messages) <= self._inflight_messages:
            return mqtt.MQTT_ERR_SUCCESS  # no room, or nothing queued (only QoS > 0 queue)
        queued, out = self._queued, self._out_messages
        while free > 0:
            if not queued:
                messages = out.values()
                queued.extend(compress(messages, map(operator.eq, map(_STATE, messages),
                                                     repeat(_QUEUED))))
                if not queued:
                    break
            m = queued.popleft()
            if m.state != _QUEUED or out.get(m.mid) is not m:
                continue  # sent since the walk (a reconnect resends the window itself)
            free -= 1
            self._inflight_messages += 1
            m.state = mqtt_ms_wait_for_puback if m.qos == 1 else mqtt_ms_wait_for_pubrec
            rc = self._send_publish(m.mid, m.topic.encode("utf-8"), m.payload, m.qos, m.retain,
                                    m.dup, properties=m.properties)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                return rc
        return mqtt.MQTT_ERR_SUCCESS

    def _messages_reconnect_reset_out(self) -> None:
        """paho re-decides after a reconnect which publications go out at once and which
        queue (an old one may queue again): the next window walks afresh, in paho's order."""
        with self._out_message_mutex:
            self._queued.clear()
            super()._messages_reconnect_reset_out()

    def ack_all(self, mids: Iterable[int]) -> None:
        """Acknowledge QoS 1 messages (`manual_ack`) by their ids, in one write to the broker."""
        if not self._manual_ack:
            return  # paho acknowledged them on arrival
        packet = b"".join([_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids])
        if packet:
            # One queued packet, one wake-up of the network thread, one `send`; paho resets
            # its queue on reconnect, as it would for single PUBACKs.
            self._packet_queue(mqtt.PUBACK, packet, 0, 1)


class _ChunkedReader:
    """A connected socket whose `recv` is served from chunks read ahead; all else delegates."""

    def __init__(self, sock) -> None:
        self._sock = sock
        self._chunk = b""
        self._position = 0
        self._taken_from = 0
        self.refill = True  # False: behave as if the socket had nothing more for now

    def recv(self, size: int) -> bytes:
        if self._position >= len(self._chunk):
            if not self.refill:
                raise BlockingIOError  # what paho expects of a non-blocking socket with no data
            chunk = self._sock.recv(max(size, READ_CHUNK_BYTES))
            if not chunk:
                return chunk  # the broker closed the connection
            self._chunk, self._position = chunk, 0
        data = self._chunk[self._position : self._position + size]
        self._position += len(data)
        return data

    def fill(self) -> None:
        """Read the next chunk once everything read before is handed out (an end of stream is
        left for `recv` to report); raises what the socket's `recv` raises."""
        if self._position >= len(self._chunk):
            chunk = self._sock.recv(READ_CHUNK_BYTES)
            if chunk:
                self._chunk, self._position = chunk, 0

    def whole_packet(self) -> tuple[int, bytes] | None:
        """The next MQTT packet (command byte, body) if it lies whole in the chunk, else None."""
        chunk, start = self._chunk, self._position
        end = len(chunk)
        at, length, shift = start + 1, 0, 0
        while at < end and shift <= 21:  # the remaining length: at most 4 bytes, 7 bits each
            byte = chunk[at]
            at += 1
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if at + length > end:
                    return None
                self._position, self._taken_from = at + length, start
                return chunk[start], chunk[at : at + length]
            shift += 7
        return None  # cut by the chunk's end, or malformed: paho reads it and decides

    def unread(self) -> None:
        """Put back the packet `whole_packet` just took."""
        self._position = self._taken_from

    @property
    def buffered(self) -> int:
        """Bytes read from the socket and not yet handed to paho."""
        return len(self._chunk) - self._position

    def pending(self) -> int:
        """What paho asks a TLS socket before `select`: bytes it can read without waiting."""
        inner = getattr(self._sock, "pending", None)
        return self.buffered + (inner() if inner is not None else 0)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)
