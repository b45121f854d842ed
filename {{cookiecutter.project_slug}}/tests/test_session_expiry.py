"""Live sessions end with their credential: a socket closes at its access token's expiry plus
the leeway, and an in-band refresh with a fresh token of the same user moves that deadline."""

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from realtime.consumers import SessionConsumer
from tests.communicators import open_socket
from tests.credentials import ws_credentials_for

CLOSE_TOKEN_EXPIRED = {"type": "websocket.close", "code": 4401, "reason": "token_expired"}
CLOSE_AUTH_FAILED = {"type": "websocket.close", "code": 4403, "reason": "auth_failed"}


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


async def test_a_socket_leaving_a_shared_expiry_leaves_the_others_due(
    communicator, user, access_token
):
    """Sockets whose tokens expire at the same moment share one timer (realtime.deadlines): one
    that closes takes only itself off it."""
    access = access_token(user, lifetime=timedelta(seconds=2))
    leaving, staying = [communicator(**await ws_credentials_for(access)) for _ in range(2)]
    for comm in (leaving, staying):
        assert (await comm.connect())[0]

    await leaving.disconnect()

    assert await staying.receive_output(timeout=4) == CLOSE_TOKEN_EXPIRED


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
