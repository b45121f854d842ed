"""Bursts on Redis wait for a pooled connection instead of failing: far more concurrent channel
layer commands than a process may open connections all succeed."""

import asyncio

from channels.layers import get_channel_layer


async def test_a_burst_of_group_joins_waits_for_connections(redis_url, settings):
    layer = get_channel_layer()
    (host,) = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    burst = 3 * host["max_connections"]
    channel = await layer.new_channel()
    groups = [f"burst.{i}" for i in range(burst)]

    await asyncio.gather(*(layer.group_add(group, channel) for group in groups))
    await asyncio.gather(*(layer.group_discard(group, channel) for group in groups))
