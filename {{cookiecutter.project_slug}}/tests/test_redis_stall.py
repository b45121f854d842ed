"""A Redis that accepts connections but does not answer bounds every channel-layer wait.

The channel layer's connections have no read timeout (its idle reads must live on), so a frozen
Redis would hang a handshake, a chat message or a logout for good. Each of those calls has a
deadline, CHANNEL_LAYER_TIMEOUT (realtime.redis_outages): past it, a socket in its handshake is
accepted and closed with 1013 (try again later), as is an open socket that sends, and logout
answers 503 with Retry-After after blacklisting the refresh token. Here a throwaway
redis-server is frozen with SIGSTOP and thawed with SIGCONT, under both of the project's layers
(realtime.layers: on the core layer and on the pub/sub layer, whose subscriptions wait for Redis's
confirmation); afterwards everything works again.
"""

import asyncio
import os
import signal

import pytest
from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.test import override_settings
from rest_framework.test import APIClient

from tests.handshakes import CLOSE_TRY_AGAIN_LATER, assert_told_to_try_again_later
from tests.test_revocation_holds import sign_in

DEADLINE = 1.0  # CHANNEL_LAYER_TIMEOUT in these tests
# What a test waits for an answer at most: without the deadline, the calls never answer.
PROMPTLY = 5 * DEADLINE
CLOSE_LOGGED_OUT = {"type": "websocket.close", "code": 4401, "reason": "logged_out"}
LAYERS = {
    "core": "realtime.layers.BoundedRedisChannelLayer",
    "pubsub": "realtime.layers.BacklogPubSubChannelLayer",
}


def layer_on(url, backend):
    """The layer under test as the project configures its connections: no read timeout."""
    host = {"address": url, "socket_timeout": None, "socket_connect_timeout": 2, "protocol": 2}
    return {"default": {"BACKEND": backend, "CONFIG": {"hosts": [host], "prefix": "stall"}}}


@pytest.fixture(params=sorted(LAYERS))
def stalling_layer(request, throwaway_redis):
    """The channel layer on a throwaway Redis; yields `freeze(on)` (SIGSTOP / SIGCONT its pid)."""
    pid = throwaway_redis.process.pid

    def freeze(on=True):
        os.kill(pid, signal.SIGSTOP if on else signal.SIGCONT)

    freeze.layer = request.param

    with override_settings(
        CHANNEL_LAYERS=layer_on(throwaway_redis.url, LAYERS[request.param]),
        CHANNEL_LAYER_TIMEOUT=DEADLINE,
    ):
        try:
            yield freeze
        finally:
            freeze(False)


@sync_to_async
def log_out(refresh, everywhere=False):
    path = "/api/logout/all/" if everywhere else "/api/logout/"
    response = APIClient().post(path, {"refresh": refresh}, format="json")
    close_old_connections()
    return response


@sync_to_async
def refresh_status(refresh):
    return APIClient().post("/api/token/refresh/", {"refresh": refresh}, format="json").status_code


async def open_chat(communicator, ws_credentials, user):
    comm = communicator(**await ws_credentials(user))
    connected, _ = await comm.connect(timeout=PROMPTLY)
    assert connected
    return comm


async def test_frozen_redis_refuses_handshakes_closes_sends_with_1013_and_logout_answers_503(
    stalling_layer, communicator, ws_credentials, user
):
    # Connections to Redis exist before it freezes, as on a server that has been running.
    talking = await open_chat(communicator, ws_credentials, user)
    # An echo comes back after the handshake's last layer call (its presence diff) has ended:
    # a call still waiting on the frozen Redis would hold the pub/sub layer's connection lock.
    await talking.send_json_to({"message": "before the stall"})
    assert (await talking.receive_json_from(timeout=PROMPTLY))["message"] == "before the stall"
    credentials = await ws_credentials(user)
    _, refresh = await sign_in(user)

    stalling_layer(True)

    # A handshake subscribes to its channel and joins the user's group: told to try again later
    # within the deadline, never hanging.
    await assert_turned_away_within(communicator(**credentials), PROMPTLY)
    # A chat message on an open socket: the socket closes with 1013 (try again later).
    await talking.send_json_to({"message": "into the void"})
    assert await talking.receive_output(timeout=PROMPTLY) == CLOSE_TRY_AGAIN_LATER
    # Logout: the refresh token is blacklisted, the broadcast times out, the answer says so.
    response = await log_out(refresh)
    assert response.status_code == 503, response.data
    assert int(response["Retry-After"]) > 0
    assert response.data["code"] == "sockets_not_closed"
    assert await refresh_status(refresh) == 401

    stalling_layer(False)

    alice = await open_chat(communicator, ws_credentials, user)
    await alice.send_json_to({"message": "after the thaw"})
    assert (await alice.receive_json_from(timeout=PROMPTLY))["message"] == "after the thaw"
    _, refresh = await sign_in(user)
    assert (await log_out(refresh, everywhere=True)).status_code == 200
    assert await alice.receive_output(timeout=PROMPTLY) == CLOSE_LOGGED_OUT


async def assert_turned_away_within(comm, seconds):
    """Accepted and closed with 1013 before `seconds` pass (the communicator raises TimeoutError
    after them)."""
    async with asyncio.timeout(seconds):
        await assert_told_to_try_again_later(comm)
    # The consumer ended on the refusal, before a later message could close its connection.
    await sync_to_async(close_old_connections)()


async def test_frozen_redis_bounds_a_handshake_on_a_fresh_process(
    stalling_layer, communicator, ws_credentials, user
):
    """No connection to Redis yet: the kernel still accepts new ones, and then nothing answers."""
    credentials = await ws_credentials(user)
    stalling_layer(True)

    await assert_turned_away_within(communicator(**credentials), PROMPTLY)
