"""The channel layer spread over two Redis servers (CHANNEL_REDIS_URLS): each group lives on one
of them, and chat and logout still reach every socket, across two server processes.

Both Redis servers are this module's own (tests.throwaway_redis); the cache (tickets, throttles,
connection limits) stays on the first, as REDIS_URL says.
"""

import asyncio
import json

import pytest
import redis

from tests.credentials import live_ws_credentials_with
from tests.live_server import USERS
from tests.required_services import skip_or_fail
from tests.throwaway_redis import REDIS_SERVER, ThrowawayRedis

pytestmark = pytest.mark.server

# Rooms whose groups land on both servers. channels-redis picks a group's server by bit 11 of a
# CRC32 of its name, which names differing only in a last digit share (chat.room1 to chat.room9).
ROOMS = ["amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "heath", "inlet", "juniper"]
CLOSE_LOGGED_OUT = 4401
# Guards against a hang only.
HANG_GUARD_SECONDS = 60


@pytest.fixture
def two_redis(tmp_path):
    if REDIS_SERVER is None:
        skip_or_fail("needs redis-server on PATH")
    servers = []
    try:
        for name in ("first", "second"):
            workdir = tmp_path / name
            workdir.mkdir()
            server = ThrowawayRedis(workdir)
            server.start()
            servers.append(server)
        yield servers
    finally:
        for server in servers:
            server.stop()


def room_groups_on(server, layer) -> set[str]:
    """The rooms whose channel-layer group lives on this Redis server."""
    client = redis.Redis(port=server.port, decode_responses=True)
    try:
        if layer == "pubsub":  # a group is a Pub/Sub channel its members' processes subscribe to
            names = client.pubsub_channels("*__group__chat.*")
        else:  # the core layer keeps each group's members in a sorted set
            names = client.keys("*:group:chat.*")
    finally:
        client.close()
    return {name.rpartition("chat.")[2] for name in names}


async def next_chat_message(websocket) -> dict:
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        while True:
            frame = json.loads(await websocket.recv())
            if frame.get("type") == "chat.message":
                return frame


@pytest.mark.parametrize("layer", ["pubsub", "core"])
async def test_chat_and_logout_cross_processes_whose_groups_live_on_two_redis_servers(
    layer, two_redis, server_process
):
    first_redis, second_redis = two_redis
    env = {
        "REDIS_URL": first_redis.url,
        "CHANNEL_REDIS_URLS": f"{first_redis.url},{second_redis.url}",
        "CHANNEL_LAYER": layer,
    }
    left, right = server_process(**env), server_process(**env)
    status, alice = await asyncio.to_thread(
        left.post_json, "/api/token/", {"username": "alice", "password": USERS["alice"]}
    )
    assert status == 200, alice
    bob_access = await asyncio.to_thread(right.access_token, "bob")

    async def open_socket(server, access, room):
        credentials = await asyncio.to_thread(live_ws_credentials_with, server, access)
        return await server.websocket(f"/ws/chat/{room}/", **credentials)

    # In each room, alice on one process and bob on the other.
    alices = [await open_socket(left, alice["access"], room) for room in ROOMS]
    bobs = [await open_socket(right, bob_access, room) for room in ROOMS]
    try:
        first_rooms = room_groups_on(first_redis, layer)
        second_rooms = room_groups_on(second_redis, layer)
        assert first_rooms and second_rooms, "every room's group is on the same Redis server"
        assert first_rooms | second_rooms == set(ROOMS)
        assert not first_rooms & second_rooms

        for room, alice_socket, bob_socket in zip(ROOMS, alices, bobs, strict=True):
            for sender in (alice_socket, bob_socket):
                text = f"{'alice' if sender is alice_socket else 'bob'} in {room}"
                await sender.send(json.dumps({"message": text}))
                for receiver in (alice_socket, bob_socket):
                    frame = await next_chat_message(receiver)
                    assert (frame["room"], frame["message"]) == (room, text)

        # A logout on the process alice's sockets are not on closes every one of them.
        status, _ = await asyncio.to_thread(
            right.post_json, "/api/logout/", {"refresh": alice["refresh"]}
        )
        assert status == 200
        async with asyncio.timeout(HANG_GUARD_SECONDS):
            for alice_socket in alices:
                await alice_socket.wait_closed()
        assert {alice_socket.close_code for alice_socket in alices} == {CLOSE_LOGGED_OUT}

        # bob's sockets stay open, each still in its room's group.
        for room, bob_socket in zip(ROOMS, bobs, strict=True):
            await bob_socket.send(json.dumps({"message": f"bob still in {room}"}))
            assert (await next_chat_message(bob_socket))["message"] == f"bob still in {room}"
    finally:
        for websocket in alices + bobs:
            await websocket.close()
