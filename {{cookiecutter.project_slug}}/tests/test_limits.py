"""Limits on what one client may cost: frames per socket (a token bucket), open sockets per user
(across processes on Redis), and frame size (uvicorn's --ws-max-size, WS_MAX_FRAME_BYTES)."""

import asyncio
import json
import re
import time

import pytest
import redis
from websockets.exceptions import ConnectionClosed

from realtime.limits import (
    ALLOWED,
    CLOSE,
    REFUSED,
    LocalConnectionSlots,
    MessageRate,
    RedisConnectionSlots,
    slot_key,
)
from tests.credentials import live_ws_credentials_for
from tests.live_server import PROJECT_DIR

CLOSE_RATE_LIMITED = {"type": "websocket.close", "code": 4429, "reason": "rate_limited"}
CLOSE_TOO_MANY = {"type": "websocket.close", "code": 4429, "reason": "too_many_connections"}
CLOSE_TOO_BIG = {"type": "websocket.close", "code": 1009, "reason": "message_too_big"}


async def open_socket(communicator, ws_credentials, user, room="lobby"):
    comm = communicator(f"/ws/chat/{room}/", **await ws_credentials(user))
    connected, _ = await comm.connect()
    assert connected
    return comm


async def assert_chats(comm):
    """The socket stays open and chats (one over the limit is accepted, then closed)."""
    await comm.send_json_to({"message": "still here"})
    assert (await comm.receive_json_from())["message"] == "still here"


# Messages per socket


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_burst_then_the_sustained_rate_are_allowed():
    clock = Clock()
    bucket = MessageRate(rate=5, burst=20, clock=clock)

    assert [bucket.take() for _ in range(20)] == [ALLOWED] * 20
    assert bucket.take() == REFUSED
    assert bucket.retry_after() == 0.2
    for _ in range(50):  # ten seconds at 5 a second
        clock.now += 0.2
        assert bucket.take() == ALLOWED


def test_sending_on_while_refused_closes():
    clock = Clock()
    bucket = MessageRate(rate=5, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [ALLOWED] * 3

    assert [bucket.take() for _ in range(4)] == [REFUSED] * 3 + [CLOSE]


def test_a_pause_refills_the_bucket_up_to_the_burst():
    clock = Clock()
    bucket = MessageRate(rate=5, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [ALLOWED] * 3 + [REFUSED]

    clock.now += 3600
    assert [bucket.take() for _ in range(4)] == [ALLOWED] * 3 + [REFUSED]


async def test_flooding_gets_rate_limited_errors_then_close_4429(
    communicator, ws_credentials, user, other_user, settings
):
    # A refill rate this low adds no token while the test runs.
    settings.WS_MESSAGE_BURST, settings.WS_MESSAGE_RATE = 3, 0.001
    alice = await open_socket(communicator, ws_credentials, user)
    bob = await open_socket(communicator, ws_credentials, other_user)

    for number in range(3):
        await alice.send_json_to({"message": f"message {number}"})
        assert (await bob.receive_json_from())["message"] == f"message {number}"
        assert (await alice.receive_json_from())["message"] == f"message {number}"
    for _ in range(3):
        await alice.send_json_to({"message": "too many"})
    for _ in range(3):
        error = await alice.receive_json_from()
        assert error["type"] == "error"
        assert error["error"] == "rate_limited"
        assert error["retry_after"] > 0
    await alice.send_json_to({"message": "and more"})  # a burst's worth refused in a row, and one

    assert await alice.receive_output() == CLOSE_RATE_LIMITED
    assert await bob.receive_nothing()  # nothing past the burst reached the room


async def test_every_kind_of_frame_counts(communicator, ws_credentials, user, settings):
    settings.WS_MESSAGE_BURST, settings.WS_MESSAGE_RATE = 2, 0.001
    comm = await open_socket(communicator, ws_credentials, user)

    await comm.send_to(text_data="not json")
    await comm.send_to(bytes_data=b"binary")
    assert (await comm.receive_json_from())["error"] == "frame is not valid JSON"
    assert (await comm.receive_json_from())["error"] == "send JSON text frames, not binary"
    await comm.send_to(text_data="not json either")

    assert (await comm.receive_json_from())["error"] == "rate_limited"


# Open sockets per user


async def test_sockets_past_the_per_user_limit_are_accepted_then_closed_4429(
    communicator, ws_credentials, user, other_user, settings
):
    settings.WS_MAX_CONNECTIONS_PER_USER = 2
    first = await open_socket(communicator, ws_credentials, user)
    await open_socket(communicator, ws_credentials, user, room="elsewhere")
    await open_socket(communicator, ws_credentials, other_user)  # someone else's count

    third = communicator(**await ws_credentials(user))
    connected, _ = await third.connect()
    assert connected  # so that the client learns why
    assert await third.receive_output() == CLOSE_TOO_MANY

    await first.disconnect()  # releases its slot
    await assert_chats(await open_socket(communicator, ws_credentials, user))


async def test_a_refused_socket_does_not_hold_a_slot(communicator, ws_credentials, user, settings):
    settings.WS_MAX_CONNECTIONS_PER_USER = 1
    first = await open_socket(communicator, ws_credentials, user)
    for _ in range(3):
        refused = communicator(**await ws_credentials(user))
        await refused.connect()
        assert await refused.receive_output() == CLOSE_TOO_MANY
        await refused.disconnect()

    await first.disconnect()
    await assert_chats(await open_socket(communicator, ws_credentials, user))


@pytest.fixture(params=["local", "redis"])
def slots(request):
    if request.param == "redis":
        request.getfixturevalue("redis_url")
        return RedisConnectionSlots()
    return LocalConnectionSlots()


async def test_an_entry_stops_counting_at_its_deadline(slots, settings):
    """The sockets of a process that died without closing them stop counting when their
    credentials would have closed them."""
    settings.WS_MAX_CONNECTIONS_PER_USER = 1
    assert await slots.acquire(7, "dead-process-socket", time.time() - 1)

    assert await slots.acquire(7, "live-socket", time.time() + 60)
    assert not await slots.acquire(7, "one-too-many", time.time() + 60)


async def test_a_refresh_moves_the_deadline(slots, settings):
    settings.WS_MAX_CONNECTIONS_PER_USER = 1
    assert await slots.acquire(7, "refreshed", time.time() + 60)

    await slots.extend(7, "refreshed", time.time() - 1)

    assert await slots.acquire(7, "next", time.time() + 60)


async def test_a_released_slot_is_free_again(slots, settings):
    settings.WS_MAX_CONNECTIONS_PER_USER = 1
    assert await slots.acquire(7, "first", time.time() + 60)
    assert not await slots.acquire(7, "second", time.time() + 60)

    await slots.release(7, "first")

    assert await slots.acquire(7, "second", time.time() + 60)


async def test_the_users_key_on_redis_expires_with_its_last_deadline(redis_url, settings):
    slots = RedisConnectionSlots()
    now = time.time()
    await slots.acquire(7, "later", now + 90)
    await slots.acquire(7, "sooner", now + 30)
    await slots.extend(7, "sooner", now + 120)  # an in-band refresh

    client = redis.Redis.from_url(redis_url)
    try:
        ttl = client.ttl(slot_key(7))
    finally:
        client.close()
    assert 110 <= ttl <= 121


async def test_the_limit_holds_across_server_processes_on_redis(redis_url, server_process):
    first = server_process(WS_MAX_CONNECTIONS_PER_USER="1")
    second = server_process(WS_MAX_CONNECTIONS_PER_USER="1")

    async with first.websocket(**await asyncio.to_thread(live_ws_credentials_for, first)):
        credentials = await asyncio.to_thread(live_ws_credentials_for, second)
        async with second.websocket(**credentials) as over:
            with pytest.raises(ConnectionClosed) as closed:
                await over.recv()
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4429, "too_many_connections")

    # The first socket closed and released its slot.
    credentials = await asyncio.to_thread(live_ws_credentials_for, second)
    async with second.websocket(**credentials) as ws:
        await ws.send(json.dumps({"message": "my turn"}))
        assert json.loads(await ws.recv())["message"] == "my turn"


# Frame size


async def test_a_frame_over_ws_max_frame_bytes_closes_1009(
    communicator, ws_credentials, user, settings
):
    settings.WS_MAX_FRAME_BYTES = 100
    comm = await open_socket(communicator, ws_credentials, user)
    await comm.send_to(text_data=json.dumps({"message": "x" * 85}))  # 100 bytes
    assert (await comm.receive_json_from())["message"] == "x" * 85

    # 59 characters, 103 bytes in UTF-8.
    await comm.send_to(text_data=json.dumps({"message": "é" * 44}, ensure_ascii=False))

    assert await comm.receive_output() == CLOSE_TOO_BIG


def longest_message_frame() -> str:
    # 4,000 characters outside the BMP, each escaped as a surrogate pair: 12 bytes apiece.
    return json.dumps({"message": "\N{GRINNING FACE}" * 4000})


async def test_uvicorn_refuses_a_frame_over_ws_max_size_before_the_application(
    server_process, settings
):
    server = server_process()
    credentials = await asyncio.to_thread(live_ws_credentials_for, server)
    async with server.websocket(**credentials, max_size=None) as ws:
        # The longest message the consumer accepts fits in a frame, however it is escaped.
        frame = longest_message_frame()
        assert 40_000 < len(frame) <= settings.WS_MAX_FRAME_BYTES
        await ws.send(frame)
        assert len(json.loads(await ws.recv())["message"]) == 4000

        await ws.send(json.dumps({"message": "x" * settings.WS_MAX_FRAME_BYTES}))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()

    assert closed.value.rcvd.code == 1009
    # uvicorn's own close, not the consumer's (which only servers without a limit need).
    assert closed.value.rcvd.reason != "message_too_big"


def test_every_uvicorn_command_in_the_readme_sets_ws_max_size(settings):
    readme = (PROJECT_DIR / "README.md").read_text()
    commands = re.findall(r"uv run uvicorn config\.asgi:application[^\n]*", readme)

    assert commands
    for command in commands:
        assert f"--ws-max-size {settings.WS_MAX_FRAME_BYTES}" in command, command
