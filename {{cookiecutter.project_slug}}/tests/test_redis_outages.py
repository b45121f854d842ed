"""Redis unreachable: requests are refused cleanly (503), sockets are told to try again later
(1013, after the handshake if it came then), and the server recovers alone.

On the Pub/Sub channel layer (the default), an idle socket stays open through an outage and hears
its room again once Redis is back; a message sent meanwhile is refused: its socket closes with
1013, so the client knows to retry it.

The live test runs uvicorn against a throwaway redis-server that it stops and starts again; the
in-process tests point the channel layer at a port where nothing listens.
"""

import asyncio
import contextlib
import json
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.test import override_settings
from websockets.exceptions import InvalidStatus

from tests.credentials import (
    HANDSHAKE_DURING_A_REDIS_OUTAGE,
    assert_live_credential_while_redis_is_down,
    live_ws_credentials_for,
)
from tests.handshakes import assert_told_to_try_again_later
from tests.live_server import free_port

ORIGIN = "http://localhost"
# A refusal must come this fast: the Redis clients' connect timeouts are 2 s.
PROMPTLY = 5.0
OUTAGE_WARNING = "Redis unavailable"


async def next_message(ws):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout=PROMPTLY))


async def chat(ws, message):
    await ws.send(json.dumps({"message": message}))
    return await next_message(ws)


async def handshake_outcome(server, credentials):
    """What a WebSocket handshake gets: its HTTP status (101 when it opens), the code the server
    then closed the socket with (None if it stayed open), and how long both took."""
    started = time.monotonic()
    close_code = None
    try:
        async with server.websocket(**credentials, origin=ORIGIN, open_timeout=PROMPTLY) as ws:
            status = 101
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.wait_closed(), PROMPTLY)
            close_code = ws.close_code
    except InvalidStatus as refused:
        status = refused.response.status_code
    return status, close_code, time.monotonic() - started


@pytest.mark.server
async def test_server_refuses_cleanly_while_redis_is_down_and_recovers(
    throwaway_redis, server_process
):
    server = server_process(REDIS_URL=throwaway_redis.url, CHANNEL_LAYER="pubsub")
    # A credential taken while Redis is up, used while it is down.
    credentials = await asyncio.to_thread(live_ws_credentials_for, server)
    open_credentials = await asyncio.to_thread(live_ws_credentials_for, server, "bob")
    idle_credentials = await asyncio.to_thread(live_ws_credentials_for, server, "bob")

    async with (
        server.websocket(**open_credentials, origin=ORIGIN) as open_ws,
        server.websocket(**idle_credentials, origin=ORIGIN) as idle_ws,
    ):
        assert (await chat(open_ws, "before the outage"))["message"] == "before the outage"
        assert (await next_message(idle_ws))["message"] == "before the outage"
        await asyncio.to_thread(throwaway_redis.stop)
        # A message sent while Redis is down cannot be delivered: its socket is closed with 1013
        # (try again later), not left dangling, and the message is not silently lost.
        await open_ws.send(json.dumps({"message": "during the outage"}))
        await asyncio.wait_for(open_ws.wait_closed(), PROMPTLY)
        assert open_ws.close_code == 1013
        assert server.output().count(OUTAGE_WARNING) == 1

        status, close_code, seconds = await handshake_outcome(server, credentials)
        assert (status, close_code) == HANDSHAKE_DURING_A_REDIS_OUTAGE
        assert seconds < PROMPTLY
        assert server.output().count(OUTAGE_WARNING) == 2
        await asyncio.to_thread(assert_live_credential_while_redis_is_down, server)
        assert server.process.poll() is None

        await asyncio.to_thread(throwaway_redis.start)
        credentials = await asyncio.to_thread(live_ws_credentials_for, server)
        async with server.websocket(**credentials, origin=ORIGIN) as ws:
            assert (await chat(ws, "after the outage"))["message"] == "after the outage"
        # The idle socket stayed open, and hears its room again.
        assert (await next_message(idle_ws))["message"] == "after the outage"
    assert "Traceback" not in server.output()


@pytest.mark.parametrize(
    "backend",
    ["realtime.layers.BacklogPubSubChannelLayer", "realtime.layers.BoundedRedisChannelLayer"],
)
async def test_chat_handshake_is_told_to_try_again_later_when_the_channel_layer_is_unreachable(
    communicator, ws_credentials, user, caplog, backend
):
    credentials = await ws_credentials(user)
    unreachable = {
        "BACKEND": backend,
        "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
    }
    with override_settings(CHANNEL_LAYERS={"default": unreachable}):
        await assert_told_to_try_again_later(communicator(**credentials))
    # Channels' test communicator turns off database_sync_to_async's connection cleanup, and this
    # consumer ended before a later message could do it: close the handshake's connection.
    await sync_to_async(close_old_connections)()

    warnings = [r for r in caplog.records if r.name == "realtime.consumers"]
    assert [r.levelname for r in warnings] == ["WARNING"]
    assert OUTAGE_WARNING in warnings[0].getMessage()
    assert warnings[0].exc_info is None
