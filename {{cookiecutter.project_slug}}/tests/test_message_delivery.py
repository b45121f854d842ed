"""No message lost silently: on Redis, bursts reach every socket, and a drop is loud.

Live tests run uvicorn on the project's channel layer (REDIS_URL; CHANNEL_LAYER's default) and
count every message: many sockets in rooms of their own sending at once, on one process and over
two, and one crowded room where everyone talks at once. A socket whose client stops reading is
closed with 4408 `too_slow` once its backlog is full, the others unaffected, and every message it
did not get is counted in a WARNING.
"""

import asyncio
import json
import logging
import re
import socket

import pytest
from channels.layers import get_channel_layer
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from realtime import layers
from realtime.close_codes import TOO_SLOW
from tests.credentials import live_ws_credentials_many

# Bounds on waiting for events; a test that needs them has already failed.
DEADLINE = 60.0
# Handshakes in flight at once, as many browsers reconnecting together would be.
OPENING = 50
# What a live server may need beyond the project's defaults: tickets for hundreds of sockets.
SERVER_ENV = {"WS_TICKET_THROTTLE_RATE": "100000/min"}


class StuckClient:
    """A WebSocket client that stops reading after its handshake, as a stuck browser tab would,
    with a small receive buffer; `read_to_close()` (blocking) reads everything again."""

    def __init__(self, server, path, credentials):
        url = f"{server.ws_url}{path}?{credentials.get('query', '')}"
        self.protocol = ClientProtocol(parse_uri(url), subprotocols=credentials.get("subprotocols"))
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(DEADLINE)
        self.sock.connect(("127.0.0.1", server.port))
        self.protocol.send_request(self.protocol.connect())
        self.sock.sendall(b"".join(self.protocol.data_to_send()))
        while self.protocol.state is State.CONNECTING:
            self.protocol.receive_data(self.sock.recv(1))  # not a byte past the response
        assert self.protocol.state is State.OPEN, self.protocol.handshake_exc
        self.protocol.events_received()  # the handshake's response

    def read_to_close(self):
        """-> (chat messages received, the close frame's (code, reason))."""
        messages = 0
        while self.protocol.close_rcvd is None:
            data = self.sock.recv(1 << 16)
            if not data:
                break
            self.protocol.receive_data(data)
            for frame in self.protocol.events_received():
                if frame.opcode is Opcode.TEXT:
                    messages += json.loads(frame.data)["type"] == "chat.message"
        self.sock.close()
        close = self.protocol.close_rcvd
        return messages, close and (close.code, close.reason)


async def until(condition):
    """Wait until `condition()` holds (checked every 10 ms), at most DEADLINE seconds."""
    async with asyncio.timeout(DEADLINE):
        while not condition():  # noqa: ASYNC110 (a log file and counters: no event to wait on)
            await asyncio.sleep(0.01)


DROPPED = re.compile(r"Channel layer dropped (\d+) messages \((.*?)\)")


class Socket:
    """A client socket in `room` that counts the chat messages it receives."""

    def __init__(self, server, room, credentials, on_message):
        self.server, self.room, self.credentials = server, room, credentials
        self.on_message = on_message
        self.received = []
        self.awaited, self.echo = None, asyncio.Event()  # set when `awaited` comes back

    async def open(self, opening):
        async with opening:
            self.ws = await self.server.websocket(
                f"/ws/chat/{self.room}/",
                **self.credentials,
                max_queue=None,
                ping_interval=None,
                open_timeout=DEADLINE,
            )
        self.reader = asyncio.create_task(self.read())

    async def read(self):
        async for frame in self.ws:
            event = json.loads(frame)
            if event["type"] == "chat.message":
                self.received.append(event["message"])
                if event["message"] == self.awaited:
                    self.echo.set()
                self.on_message()

    async def send(self, message):
        await self.ws.send(json.dumps({"message": message}))

    async def send_and_wait_for_echo(self, message):
        self.awaited = message
        self.echo.clear()
        await self.send(message)
        await asyncio.wait_for(self.echo.wait(), DEADLINE)

    async def close(self):
        await self.ws.close()
        self.reader.cancel()


async def open_sockets(servers, rooms, credentials):
    """One socket per room in `rooms`, alternating over `servers`, and an event set once they
    have received `expect(n)` chat messages in all."""
    everything = asyncio.Event()
    count = {"received": 0, "expected": None}

    def on_message():
        count["received"] += 1
        if count["received"] == count["expected"]:
            everything.set()

    sockets = [
        Socket(servers[i % len(servers)], room, credentials[i], on_message)
        for i, room in enumerate(rooms)
    ]
    opening = asyncio.Semaphore(OPENING)
    await asyncio.gather(*(socket.open(opening) for socket in sockets))

    async def all_received(expected):
        count["expected"] = expected
        if count["received"] == expected:
            everything.set()
        try:
            await asyncio.wait_for(everything.wait(), DEADLINE)
        except TimeoutError:
            pytest.fail(f"{count['received']} of {expected} messages delivered")

    return sockets, all_received


async def assert_every_socket_gets_its_own_rooms_message(servers, count):
    credentials = await asyncio.to_thread(live_ws_credentials_many, servers[0], count)
    rooms = [f"own-{i}" for i in range(count)]
    sockets, all_received = await open_sockets(servers, rooms, credentials)
    try:
        await asyncio.gather(*(socket.send(f"from {socket.room}") for socket in sockets))
        await all_received(count)
        assert [socket.received for socket in sockets] == [[f"from {room}"] for room in rooms]
    finally:
        await asyncio.gather(*(socket.close() for socket in sockets))
    for server in servers:
        assert "Channel layer dropped" not in server.output()


@pytest.mark.server
async def test_many_sockets_in_rooms_of_their_own_all_get_their_message(redis_url, server_process):
    # channels-redis's core layer at capacity 100 delivered 104 of 1,000 here.
    await assert_every_socket_gets_its_own_rooms_message([server_process(**SERVER_ENV)], 300)


@pytest.mark.server
async def test_many_sockets_over_two_processes_all_get_their_message(redis_url, server_process):
    servers = [server_process(**SERVER_ENV), server_process(**SERVER_ENV)]
    await assert_every_socket_gets_its_own_rooms_message(servers, 400)


@pytest.mark.server
async def test_everyone_in_a_crowded_room_gets_every_message(redis_url, server_process):
    members, messages_each = 60, 4
    server = server_process(**SERVER_ENV)
    credentials = await asyncio.to_thread(live_ws_credentials_many, server, members)
    sockets, all_received = await open_sockets([server], ["crowd"] * members, credentials)
    sent = [f"{i}.{k}" for i in range(members) for k in range(messages_each)]
    try:

        async def talk(i, socket):
            for k in range(messages_each):
                await socket.send(f"{i}.{k}")

        await asyncio.gather(*(talk(i, socket) for i, socket in enumerate(sockets)))
        await all_received(members * len(sent))
        assert all(sorted(socket.received) == sorted(sent) for socket in sockets)
    finally:
        await asyncio.gather(*(socket.close() for socket in sockets))
    assert "Channel layer dropped" not in server.output()


async def wait_for_dropped(server, total):
    """The server's drop warnings, once they add up to `total` messages."""

    def dropped():
        found = DROPPED.findall(server.output())
        return sum(int(n) for n, _ in found), found

    await until(lambda: dropped()[0] >= total)
    return dropped()


@pytest.mark.server
async def test_a_socket_that_stops_reading_is_closed_and_its_drops_are_counted(
    redis_url, server_process
):
    # The server's kernel buffers take about 3 MB for a socket before its writes wait, so the
    # backlog fills after some 750 messages of 4,000 characters.
    limit, senders, each = 20, 4, 400
    sent = senders * each
    server = server_process(CHANNEL_BACKLOG_LIMIT=str(limit), **SERVER_ENV)
    credentials = await asyncio.to_thread(live_ws_credentials_many, server, senders + 2)
    slow = await asyncio.to_thread(StuckClient, server, "/ws/chat/room/", credentials[0])
    fast, all_received = await open_sockets([server], ["room"] * senders, credentials[1:-1])
    (other,), other_received = await open_sockets([server], ["elsewhere"], credentials[-1:])
    body = "x" * 3900  # large frames (the most a message may have) fill the buffers sooner
    try:

        async def talk(i, sender):
            # One message in flight per sender: no backlog builds up for the senders themselves.
            for k in range(each):
                await sender.send_and_wait_for_echo(f"{i}.{k} {body}")

        await asyncio.gather(*(talk(i, sender) for i, sender in enumerate(fast)))
        await all_received(senders * sent)
        dropped_lines = (await wait_for_dropped(server, 1))[1]
        assert all(reasons.startswith("backlog") for _, reasons in dropped_lines)

        # The stuck client reads again: what was already on its way, then the close.
        slow_got, close = await asyncio.to_thread(slow.read_to_close)
        assert close == TOO_SLOW
        assert slow_got < sent
        total, _ = await wait_for_dropped(server, sent - slow_got)
        assert total == sent - slow_got

        # Sockets in the same room and elsewhere were never affected.
        assert all(len(sender.received) == sent for sender in fast)
        await other.send("still here")
        await other_received(1)
        assert other.received == ["still here"]
    finally:
        slow.sock.close()
        await asyncio.gather(*(s.close() for s in [*fast, other]))


@pytest.fixture
def reporter(monkeypatch):
    """A fresh drop counter in place of the process's, reporting every 50 ms."""
    counter = layers.DroppedMessages()
    counter.interval = 0.05
    monkeypatch.setattr(layers, "dropped_messages", counter)
    return counter


def drop_warnings(caplog):
    return [r for r in caplog.records if r.name == "realtime.layers"]


async def test_drops_warn_at_once_then_at_most_once_an_interval(reporter, caplog):
    for _ in range(100):
        reporter.record(1, "backlog")
    assert [r.levelname for r in drop_warnings(caplog)] == ["WARNING"]
    assert "dropped 1 messages (backlog: 1)" in drop_warnings(caplog)[0].getMessage()

    await until(lambda: len(drop_warnings(caplog)) == 2)
    assert "dropped 99 messages (backlog: 99); 100 in" in drop_warnings(caplog)[1].getMessage()
    assert (reporter.total, reporter.by_reason["backlog"]) == (100, 100)


def test_core_layers_over_capacity_info_becomes_a_counted_warning(reporter, caplog):
    caplog.set_level(logging.INFO)
    core = logging.getLogger("channels_redis.core")
    core.info("%s of %s channels over capacity in group %s", 3, 5, "chat.lobby")

    assert [(r.name, r.levelname) for r in caplog.records] == [("realtime.layers", "WARNING")]
    assert "dropped 3 messages (over_capacity: 3)" in caplog.records[0].getMessage()
    assert reporter.by_reason["over_capacity"] == 3


async def test_a_full_backlog_drops_everything_pending_and_tells_the_consumer(
    redis_url, settings, reporter
):
    limit, sent = 5, 12
    layer_settings = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {
        "default": {
            **layer_settings,
            "CONFIG": {**layer_settings["CONFIG"], "backlog_limit": limit},
        }
    }
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("backlog", channel)
    try:
        for k in range(sent):
            await layer.group_send("backlog", {"type": "chat.message", "k": k})
        await until(lambda: reporter.total == sent)
        assert await layer.receive(channel) == layers.BACKLOG_EXCEEDED
        assert reporter.by_reason == {"backlog": sent}
    finally:
        await layer.group_discard("backlog", channel)
        await layer.flush()


async def test_a_message_sent_right_after_group_add_returns_reaches_the_new_member(
    redis_url, settings
):
    # Sockets joining rooms new to their process, each followed at once by a message from another
    # process's connection: group_add() must return only once Redis has subscribed.
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    members, senders = (
        layers.BacklogPubSubChannelLayer(hosts=config["hosts"], prefix=config["prefix"])
        for _ in range(2)
    )

    async def join_then_hear(number):
        channel = await members.new_channel()
        group = f"just-joined-{number}"
        await members.group_add(group, channel)
        await senders.group_send(group, {"type": "chat.message", "number": number})
        async with asyncio.timeout(DEADLINE):
            return (await members.receive(channel))["number"]

    try:
        heard = await asyncio.gather(*(join_then_hear(number) for number in range(1000)))
        assert heard == list(range(1000))
    finally:
        await members.flush()
        await senders.flush()
