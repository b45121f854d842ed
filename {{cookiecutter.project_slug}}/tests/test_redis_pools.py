"""Bursts on Redis wait for a pooled connection instead of failing: far more concurrent channel
layer and cache commands than a process may open connections all succeed."""

import asyncio

from channels.layers import get_channel_layer

from realtime import redis_client

BURST = 3 * redis_client.MAX_CONNECTIONS


async def test_a_burst_of_group_joins_waits_for_connections(redis_url, settings):
    layer = get_channel_layer()
    (host,) = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    assert host["max_connections"] < BURST
    channel = await layer.new_channel()
    groups = [f"burst.{i}" for i in range(BURST)]

    await asyncio.gather(*(layer.group_add(group, channel) for group in groups))
    await asyncio.gather(*(layer.group_discard(group, channel) for group in groups))


async def test_a_burst_on_the_shared_client_waits_for_connections(redis_url, isolated_redis_keys):
    redis = await redis_client.cache_redis()
    keys = [f"{isolated_redis_keys}:cache:burst:{i}" for i in range(BURST)]

    results = await asyncio.gather(*(redis.getdel(key) for key in keys))

    assert results == [None] * BURST
