"""Live sessions: an open socket lives no longer than its credential, can be refreshed in-band,
and closes when its user logs out, is deactivated or deleted, or changes password."""

import asyncio
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken
from websockets.exceptions import ConnectionClosed

from realtime.consumers import SessionConsumer
from tests.credentials import live_ws_credentials_with, ws_credentials_for
from tests.users import PASSWORD

CLOSE_TOKEN_EXPIRED = {"type": "websocket.close", "code": 4401, "reason": "token_expired"}
CLOSE_LOGGED_OUT = {"type": "websocket.close", "code": 4401, "reason": "logged_out"}
CLOSE_AUTH_FAILED = {"type": "websocket.close", "code": 4403, "reason": "auth_failed"}


async def open_socket(communicator, ws_credentials, user, lifetime=None, room="lobby"):
    comm = communicator(f"/ws/chat/{room}/", **await ws_credentials(user, lifetime))
    connected, _ = await comm.connect()
    assert connected
    return comm


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


# Expiry


# `exp` is in whole seconds: a token of lifetime N expires between N-1 and N seconds from now.


async def test_socket_closes_with_4401_when_its_token_expires(communicator, ws_credentials, user):
    comm = await open_socket(communicator, ws_credentials, user, lifetime=timedelta(seconds=3))

    assert await comm.receive_nothing(timeout=1)
    assert await comm.receive_output(timeout=4) == CLOSE_TOKEN_EXPIRED


async def test_expiry_waits_for_the_leeway(communicator, ws_credentials, user, settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "LEEWAY": 3}
    comm = await open_socket(communicator, ws_credentials, user, lifetime=timedelta(seconds=2))

    assert await comm.receive_nothing(timeout=3)  # past the token's own expiry
    assert await comm.receive_output(timeout=4) == CLOSE_TOKEN_EXPIRED


async def test_the_timer_is_cancelled_on_disconnect(
    communicator, ws_credentials, user, monkeypatch
):
    fired = asyncio.Event()
    monkeypatch.setattr(SessionConsumer, "expiry_due", lambda consumer: fired.set())
    comm = await open_socket(communicator, ws_credentials, user, lifetime=timedelta(seconds=2))

    await comm.disconnect()

    # The token expires within 2 s: a timer left behind fires by then.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(fired.wait(), timeout=2.5)


# In-band refresh


async def test_fresh_token_in_band_moves_the_deadline(
    communicator, ws_credentials, user, access_token
):
    comm = await open_socket(communicator, ws_credentials, user, lifetime=timedelta(seconds=2))
    fresh = access_token(user, lifetime=timedelta(minutes=5))

    await comm.send_json_to({"type": "auth", "token": fresh})

    assert await comm.receive_json_from() == {
        "type": "auth.ok",
        "expires_at": AccessToken(fresh)["exp"],
    }
    assert await comm.receive_nothing(timeout=3)
    await comm.send_json_to({"message": "still here"})
    assert (await comm.receive_json_from())["message"] == "still here"


@pytest.mark.parametrize("bad", ["another user's", "refresh", "expired", "garbage", "missing"])
async def test_bad_token_in_band_closes_with_4403(
    communicator, ws_credentials, user, other_user, access_token, tokens, bad
):
    comm = await open_socket(communicator, ws_credentials, user)
    token = {
        "another user's": access_token(other_user),
        "refresh": (await sync_to_async(tokens)(user))[1],
        "expired": access_token(user, lifetime=-timedelta(seconds=1)),
        "garbage": "not-a-jwt",
        "missing": None,
    }[bad]

    await comm.send_json_to({"type": "auth", "token": token})

    assert await comm.receive_output() == CLOSE_AUTH_FAILED


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
