"""Bursts on Redis wait for a connection instead of failing: far more concurrent channel layer
commands than a process may open connections (the core layer's pool: 50) all succeed, on either
layer."""

import asyncio

import pytest
from channels.layers import get_channel_layer

BURST = 150


def core_layer(settings):
    """The CHANNEL_LAYER=core layer with config/settings.py's pool options, this run's prefix."""
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    host = {
        "address": settings.REDIS_URL,
        "max_connections": 50,
        "timeout": 5,
        "socket_timeout": None,
        "protocol": 2,
    }
    return {
        "BACKEND": "realtime.layers.BoundedRedisChannelLayer",
        "CONFIG": {"hosts": [host], "prefix": config["prefix"]},
    }


@pytest.mark.parametrize("layer", ["default", "core"])
async def test_a_burst_of_group_joins_waits_for_connections(redis_url, settings, layer):
    if layer == "core":
        settings.CHANNEL_LAYERS = {"default": core_layer(settings)}
    channel_layer = get_channel_layer()
    channel = await channel_layer.new_channel()
    groups = [f"burst.{i}" for i in range(BURST)]

    await asyncio.gather(*(channel_layer.group_add(group, channel) for group in groups))
    await asyncio.gather(*(channel_layer.group_discard(group, channel) for group in groups))
