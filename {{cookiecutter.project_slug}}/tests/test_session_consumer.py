"""Live sessions end with their user's: an open socket closes when its session logs out, or its
user is deactivated or deleted, or changes password; in every server process."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient
from websockets.exceptions import ConnectionClosed

from tests.communicators import open_socket
from tests.credentials import live_ws_credentials_with, ws_credentials_for
from tests.users import PASSWORD

CLOSE_LOGGED_OUT = {"type": "websocket.close", "code": 4401, "reason": "logged_out"}


@sync_to_async
def log_out(refresh):
    return APIClient().post("/api/logout/", {"refresh": refresh}, format="json")


@sync_to_async
def sign_in(user):
    """A new session's token pair, from `POST /api/token/`: (access, refresh)."""
    response = APIClient().post(
        "/api/token/", {"username": user.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.data
    return response.data["access"], response.data["refresh"]


async def open_session_socket(communicator, access, room="lobby"):
    comm = communicator(f"/ws/chat/{room}/", **await ws_credentials_for(access))
    connected, _ = await comm.connect()
    assert connected
    return comm


# Revocation


async def test_logout_closes_every_socket_of_the_session_and_no_other(
    communicator, ws_credentials, user, other_user
):
    access, refresh = await sign_in(user)
    laptop_access, _ = await sign_in(user)  # the same user's other session
    alice_lobby = await open_session_socket(communicator, access)
    alice_elsewhere = await open_session_socket(communicator, access, room="elsewhere")
    alice_laptop = await open_session_socket(communicator, laptop_access)
    bob = await open_socket(communicator, ws_credentials, other_user)

    response = await log_out(refresh)

    assert response.status_code == 200
    assert await alice_lobby.receive_output(timeout=1) == CLOSE_LOGGED_OUT
    assert await alice_elsewhere.receive_output(timeout=1) == CLOSE_LOGGED_OUT
    assert await alice_laptop.receive_nothing(timeout=0.5)
    assert await bob.receive_nothing(timeout=0.5)
    # The refresh token is blacklisted: it cannot log out (or refresh) again.
    assert (await log_out(refresh)).status_code == 401


async def test_logout_with_a_bad_refresh_token_is_refused(communicator, ws_credentials, user):
    comm = await open_socket(communicator, ws_credentials, user)

    assert (await log_out("not-a-token")).status_code == 401
    assert await comm.receive_nothing(timeout=0.5)


@pytest.mark.parametrize("change", ["deactivate", "change password", "delete"])
async def test_account_change_closes_the_users_sockets(
    communicator, ws_credentials, user, other_user, change
):
    alice = await open_socket(communicator, ws_credentials, user)
    bob = await open_socket(communicator, ws_credentials, other_user)

    @sync_to_async
    def apply_change():
        if change == "deactivate":
            user.is_active = False
            user.save()
        elif change == "change password":
            user.set_password("a whole new password")
            user.save()
        else:
            user.delete()

    await apply_change()

    assert await alice.receive_output(timeout=1) == CLOSE_LOGGED_OUT
    assert await bob.receive_nothing(timeout=0.5)


async def test_other_profile_changes_leave_sockets_open(communicator, ws_credentials, user):
    alice = await open_socket(communicator, ws_credentials, user)
    user.first_name = "Alice"
    await sync_to_async(user.save)()
    assert await alice.receive_nothing(timeout=0.5)


async def test_socket_older_than_group_expiry_is_still_reached(communicator, user, settings):
    # Layers with a group_expiry (the in-memory one, and the core layer on Redis) forget group
    # members after it (a day by default); the socket re-joins its groups before that. Here the
    # layer forgets after 2 s. (The Pub/Sub layer, the default on Redis, forgets no member.)
    layer = {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {}}
    if settings.REDIS_URL:
        # As config/settings.py configures the core layer: no read timeout, or redis-py's default
        # of 5 s races the layer's 5 s BZPOPMIN on an idle socket and closes it with 1013.
        host = {"address": settings.REDIS_URL, "socket_timeout": None, "protocol": 2}
        prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
        config = {"hosts": [host], "prefix": prefix}
        layer = {"BACKEND": "realtime.layers.BoundedRedisChannelLayer", "CONFIG": config}
    settings.CHANNEL_LAYERS = {
        "default": {**layer, "CONFIG": {**layer["CONFIG"], "group_expiry": 2}}
    }
    access, refresh = await sign_in(user)
    comm = await open_session_socket(communicator, access)
    await asyncio.sleep(4.5)

    await log_out(refresh)

    assert await comm.receive_output(timeout=1) == CLOSE_LOGGED_OUT


async def test_logout_on_one_server_process_closes_sockets_on_another(redis_url, server_process):
    first, second = server_process(), server_process()
    status, pair = await asyncio.to_thread(
        first.post_json,
        "/api/token/",
        {"username": "alice", "password": "correct horse battery staple"},
    )
    assert status == 200
    credentials = await asyncio.to_thread(live_ws_credentials_with, second, pair["access"])

    async with second.websocket(**credentials) as ws:
        status, _ = await asyncio.to_thread(
            first.post_json, "/api/logout/", {"refresh": pair["refresh"]}
        )
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=1)

    assert status == 200
    assert time.monotonic() - started < 1
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "logged_out")
