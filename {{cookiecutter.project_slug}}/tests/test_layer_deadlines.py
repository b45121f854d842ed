"""A channel-layer call that passes its deadline (CHANNEL_LAYER_TIMEOUT, realtime.redis_outages)
leaves nothing behind: a group leave runs on to its end after its caller stopped waiting, and a
socket leaves a group whose join passed the deadline. Otherwise a process stayed subscribed to
groups it had no member of: on the Pub/Sub layer, a leave cancelled while it waited for the shard's
lock had already forgotten the member (5,000 sockets closing at once left 300 of 500 rooms
subscribed on one process)."""

import asyncio
import uuid

import pytest
import redis.asyncio
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.pubsub import RedisSingleShardConnection

from realtime.layers import PubSubShard
from realtime.models import room_group
from realtime.revocation import user_group
from tests.handshakes import assert_told_to_try_again_later

DEADLINE = 0.2  # CHANNEL_LAYER_TIMEOUT in these tests
# Guards against a hang only: what a test waits for happens or never does.
HANG_GUARD_SECONDS = 10


class HeldLayer(InMemoryChannelLayer):
    """The in-memory layer, whose group joins and leaves wait until `released` is set: a join
    after registering its member (as a subscription that Redis has yet to confirm), a leave before
    forgetting it."""

    released = None  # an asyncio.Event, set by the test

    async def group_add(self, group, channel):
        await super().group_add(group, channel)
        await self.released.wait()

    async def group_discard(self, group, channel):
        await self.released.wait()
        await super().group_discard(group, channel)


@pytest.fixture
def held_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.test_layer_deadlines.HeldLayer"}}
    settings.CHANNEL_LAYER_TIMEOUT = DEADLINE
    layer = get_channel_layer()
    layer.released = asyncio.Event()
    return layer


async def until(condition):
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        while not await condition():  # noqa: ASYNC110 (the layer's state, or Redis's, polled)
            await asyncio.sleep(0.05)


async def test_a_leave_past_its_deadline_still_finishes(
    held_layer, communicator, ws_credentials, user
):
    held_layer.released.set()
    comm = communicator("/ws/chat/held-leave/", **await ws_credentials(user))
    assert (await comm.connect())[0]
    groups = {room_group("held-leave"), user_group(user.pk)}
    assert all(held_layer.groups.get(group) for group in groups)

    held_layer.released.clear()
    await comm.disconnect()  # every leave passes its deadline
    held_layer.released.set()

    async def left():
        return not any(held_layer.groups.get(group) for group in groups)

    await until(left)


async def test_a_join_past_its_deadline_is_left(held_layer, communicator, ws_credentials, user):
    # The user's group is joined first: the socket is told to try again later (1013) when its join
    # passes the deadline.
    comm = communicator("/ws/chat/held-join/", **await ws_credentials(user))
    await assert_told_to_try_again_later(comm)
    held_layer.released.set()

    async def left():
        return not held_layer.groups.get(user_group(user.pk))

    await until(left)


async def test_a_room_left_while_the_shard_is_busy_is_unsubscribed_on_redis(
    redis_url, communicator, ws_credentials, user, monkeypatch, settings
):
    """On the project's Pub/Sub layer and a real Redis: leaves that wait past their deadline for
    the shard (as behind thousands of others) still unsubscribe the process from the room."""
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    config = {"hosts": [{"address": redis_url, "protocol": 2}], "prefix": prefix}
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "realtime.layers.BacklogPubSubChannelLayer", "CONFIG": config}
    }
    settings.CHANNEL_LAYER_TIMEOUT = DEADLINE
    room = f"busy-shard-{uuid.uuid4().hex[:8]}"
    client = redis.asyncio.from_url(redis_url)

    async def subscribed():
        return await client.pubsub_channels(f"*__group__{room_group(room)}")

    comm = communicator(f"/ws/chat/{room}/", **await ws_credentials(user))
    try:
        assert (await comm.connect())[0]
        await comm.send_json_to({"message": "joined"})
        assert (await comm.receive_json_from())["message"] == "joined"
        assert await subscribed()

        released = asyncio.Event()

        async def unsubscribe_when_released(shard, channel):
            if "__group__" in channel:  # the socket's own channel leaves as it always does
                await released.wait()
            await RedisSingleShardConnection.unsubscribe(shard, channel)

        monkeypatch.setattr(PubSubShard, "unsubscribe", unsubscribe_when_released)
        await comm.disconnect()  # the room's leave passes its deadline
        released.set()

        async def unsubscribed():
            return not await subscribed()

        await until(unsubscribed)
    finally:
        await client.aclose()
