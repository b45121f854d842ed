"""Revocation that holds: after a logout, logging out everywhere, a password change, a
deactivation or a deletion, no credential issued before it opens a socket, passes an in-band
refresh, refreshes, or authenticates on the REST API, in any server process within a second.

A logout ends only its own session; revocations made by user changes are sent once the change
commits, and a Redis outage never fails the change.
"""

import asyncio
import contextlib
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.decorators import api_view
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from realtime import signals
from realtime.consumers import SessionConsumer
from realtime.recent_answers import recent_answers
from realtime.sign_ins import SESSION_CLAIM
from tests.credentials import live_ws_credentials_with, ws_credentials_for
from tests.handshakes import admitted, assert_refused
from tests.live_server import USERS, free_port
from tests.users import PASSWORD
from users.models import Session

CLOSE_LOGGED_OUT = {"type": "websocket.close", "code": 4401, "reason": "logged_out"}
CLOSE_AUTH_FAILED = {"type": "websocket.close", "code": 4403, "reason": "auth_failed"}
NEW_PASSWORD = "a whole new password 42"

REVOCATIONS = ["logout", "logout everywhere", "change password", "deactivate", "delete"]


def sign_in_now(user):
    """A new session's token pair, from `POST /api/token/`: (access, refresh)."""
    response = APIClient().post(
        "/api/token/", {"username": user.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.data
    return response.data["access"], response.data["refresh"]


sign_in = sync_to_async(sign_in_now)


def post(path, payload):
    return APIClient().post(path, payload, format="json")


def revoke_now(kind, user, refresh, other_refresh):
    """Apply one revocation to `user`. A logout is of the session of `refresh`; logging out
    everywhere is done from another session (`other_refresh`), to show it reaches this one."""
    if kind == "logout":
        assert post("/api/logout/", {"refresh": refresh}).status_code == 200
    elif kind == "logout everywhere":
        assert post("/api/logout/all/", {"refresh": other_refresh}).status_code == 200
    elif kind == "change password":
        user.set_password(NEW_PASSWORD)
        user.save()
    elif kind == "deactivate":
        user.is_active = False
        user.save()
    else:
        user.delete()


revoke = sync_to_async(revoke_now)


async def open_socket(communicator, credentials):
    comm = communicator(**credentials)
    connected, _ = await comm.connect()
    assert connected
    return comm


async def in_band_refresh(comm, access):
    await comm.send_json_to({"type": "auth", "token": access})
    return await comm.receive_output()


@pytest.mark.parametrize("kind", REVOCATIONS)
async def test_a_credential_from_before_cannot_open_a_socket(communicator, user, kind):
    # In the ticket mode the credential is a ticket bought before and not yet redeemed; in the
    # JWT modes, the access token itself.
    access, refresh = await sign_in(user)
    _, other_refresh = await sign_in(user)
    first = await open_socket(communicator, await ws_credentials_for(access))  # remembered now
    credentials = await ws_credentials_for(access)

    await revoke(kind, user, refresh, other_refresh)

    assert await first.receive_output(timeout=1) == CLOSE_LOGGED_OUT
    await assert_refused(communicator(**credentials))


@pytest.mark.parametrize("kind", REVOCATIONS)
async def test_an_old_access_token_cannot_pass_an_in_band_refresh(
    communicator, user, kind, monkeypatch
):
    # The socket misses the broadcast (as it would while Redis is unreachable), so it is the
    # check of the token that must refuse.
    async def missed(self, event):
        pass

    monkeypatch.setattr(SessionConsumer, "session_revoke", missed)
    access, refresh = await sign_in(user)
    _, other_refresh = await sign_in(user)
    comm = await open_socket(communicator, await ws_credentials_for(access))

    await revoke(kind, user, refresh, other_refresh)

    assert await in_band_refresh(comm, access) == CLOSE_AUTH_FAILED


@pytest.mark.parametrize("kind", REVOCATIONS)
def test_an_old_refresh_token_cannot_refresh(user, kind):
    _, refresh = sign_in_now(user)
    _, other_refresh = sign_in_now(user)

    revoke_now(kind, user, refresh, other_refresh)

    response = post("/api/token/refresh/", {"refresh": refresh})
    assert response.status_code == 401, response.data


@api_view(["GET"])
def who_am_i(request):
    """A REST view with the project's default authentication and permission classes."""
    return Response({"user": request.user.pk})


@pytest.mark.parametrize("kind", REVOCATIONS)
def test_an_old_access_token_is_refused_by_the_rest_api(user, kind):
    access, refresh = sign_in_now(user)
    _, other_refresh = sign_in_now(user)

    def status():
        request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {access}")
        return who_am_i(request).status_code

    assert status() == 200
    revoke_now(kind, user, refresh, other_refresh)
    assert status() == 401


def test_a_refresh_token_of_an_ended_session_is_refused_even_if_not_blacklisted(user):
    _, refresh = sign_in_now(user)
    session_id = RefreshToken(refresh)[SESSION_CLAIM]

    Session.objects.filter(pk=session_id).update(ended_at=timezone.now())

    assert post("/api/token/refresh/", {"refresh": refresh}).status_code == 401


async def test_a_logout_leaves_the_users_other_session_working(communicator, user):
    _, phone_refresh = await sign_in(user)
    laptop_access, laptop_refresh = await sign_in(user)
    laptop = await open_socket(communicator, await ws_credentials_for(laptop_access))
    laptop_credentials = await ws_credentials_for(laptop_access)

    await revoke("logout", user, phone_refresh, None)

    assert await laptop.receive_nothing(timeout=0.5)
    await laptop.send_json_to({"type": "auth", "token": laptop_access})
    assert (await laptop.receive_json_from())["type"] == "auth.ok"
    await open_socket(communicator, laptop_credentials)
    await open_socket(communicator, await ws_credentials_for(laptop_access))
    refreshed = await sync_to_async(post)("/api/token/refresh/", {"refresh": laptop_refresh})
    assert refreshed.status_code == 200


def test_sign_in_tokens_name_their_session_and_a_refresh_keeps_it(user):
    access, refresh = sign_in_now(user)
    session_id = RefreshToken(refresh)[SESSION_CLAIM]

    refreshed = post("/api/token/refresh/", {"refresh": refresh}).data

    assert Session.objects.get(pk=session_id).user == user
    assert AccessToken(access)[SESSION_CLAIM] == session_id
    assert AccessToken(refreshed["access"])[SESSION_CLAIM] == session_id
    assert RefreshToken(refreshed["refresh"])[SESSION_CLAIM] == session_id


async def test_a_token_minted_by_code_outlives_a_logout_but_not_a_password_change(
    communicator, user, access_token
):
    # Tokens without `sid` (AccessToken.for_user) belong to no session (realtime/sign_ins.py).
    minted = access_token(user)
    _, refresh = await sign_in(user)
    await revoke("logout", user, refresh, None)
    await open_socket(communicator, await ws_credentials_for(minted))
    credentials = await ws_credentials_for(minted)

    await revoke("change password", user, None, None)

    await assert_refused(communicator(**credentials))


def test_logging_out_everywhere_takes_a_refresh_token_not_an_access_token(user):
    access, _ = sign_in_now(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")

    assert client.post("/api/logout/all/", {}, format="json").status_code == 400
    assert client.post("/api/logout/all/", {"refresh": access}, format="json").status_code == 401
    assert AccessToken(access)  # still valid: nothing was revoked
    assert Session.objects.filter(user=user, ended_at=None).count() == 1


# Transactions


class RollBack(Exception):
    pass


@pytest.fixture
def sent_revocations(monkeypatch):
    """Each revocation the user signals send, as whether it was sent inside a transaction."""
    sent = []
    send = signals.revoke_sessions_or_warn

    def spy(user_pk):
        sent.append(connection.in_atomic_block)
        send(user_pk)

    monkeypatch.setattr(signals, "revoke_sessions_or_warn", spy)
    return sent


async def test_a_change_rolled_back_revokes_nothing(communicator, user, sent_revocations):
    access, _ = await sign_in(user)
    comm = await open_socket(communicator, await ws_credentials_for(access))
    credentials = await ws_credentials_for(access)

    @sync_to_async
    def change_then_roll_back():
        with contextlib.suppress(RollBack), transaction.atomic():
            user.set_password(NEW_PASSWORD)
            user.save()
            raise RollBack

    await change_then_roll_back()

    assert sent_revocations == []
    assert await comm.receive_nothing(timeout=0.5)
    await open_socket(communicator, credentials)


async def test_a_change_is_revoked_once_it_commits(communicator, user, sent_revocations):
    access, _ = await sign_in(user)
    comm = await open_socket(communicator, await ws_credentials_for(access))

    @sync_to_async
    def change_in_a_transaction():
        with transaction.atomic():
            user.set_password(NEW_PASSWORD)
            user.save()
            assert sent_revocations == []  # not before the commit

    await change_in_a_transaction()

    assert sent_revocations == [False]  # sent once, after the commit
    assert await comm.receive_output(timeout=1) == CLOSE_LOGGED_OUT


def test_answers_looked_up_before_a_change_commits_are_forgotten_when_it_commits(user):
    # A handshake checked while the change is not committed yet sees the old state.
    async def old_state():
        return "old state"

    with transaction.atomic():
        user.is_active = False
        user.save()
        async_to_sync(recent_answers.get)("probe", old_state)
        assert recent_answers.recent("probe") == "old state"

    assert recent_answers.recent("probe") is None


# Redis outages


@pytest.fixture
def unreachable_channel_layer():
    layer = {
        "BACKEND": "realtime.layers.BacklogPubSubChannelLayer",
        "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
    }
    with override_settings(CHANNEL_LAYERS={"default": layer}):
        yield


def revocation_warnings(caplog):
    return [r for r in caplog.records if r.name == "realtime.revocation"]


def test_a_password_change_saves_while_redis_is_unreachable_with_one_warning(
    user, caplog, unreachable_channel_layer
):
    user.set_password(NEW_PASSWORD)
    user.save()

    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    warnings = revocation_warnings(caplog)
    assert [r.levelname for r in warnings] == ["WARNING"]
    assert warnings[0].exc_info is None


def test_the_admin_changes_a_password_while_redis_is_unreachable(
    make_user, user, caplog, unreachable_channel_layer
):
    admin = make_user("admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)

    response = client.post(
        f"/admin/users/user/{user.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 302, response.content[:2000]
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert [r.levelname for r in revocation_warnings(caplog)] == ["WARNING"]


# Server processes


async def accepted(server, access) -> bool:
    """Whether `server` lets this access token open a socket (in the ticket mode: buy a ticket,
    then open a socket with it)."""
    try:
        credentials = await asyncio.to_thread(live_ws_credentials_with, server, access)
    except AssertionError:  # the ticket endpoint refused the token
        return False
    return await admitted(server, credentials)


async def test_a_logout_on_one_process_is_refused_on_another_within_a_second(server_process):
    # On Redis when REDIS_URL is set; the refusal needs only the shared database.
    first, second = server_process(), server_process()
    status, pair = await asyncio.to_thread(
        first.post_json, "/api/token/", {"username": "alice", "password": USERS["alice"]}
    )
    assert status == 200
    assert await accepted(second, pair["access"])  # the second process now remembers it

    logout = {"refresh": pair["refresh"]}
    status, _ = await asyncio.to_thread(first.post_json, "/api/logout/", logout)
    assert status == 200
    logged_out = time.monotonic()
    # recent_answers.MAX_AGE bounds how long the second process may go on admitting the token;
    # polled for a few seconds at most.
    refused_at = None
    while refused_at is None and time.monotonic() < logged_out + 30:
        started = time.monotonic()
        if await accepted(second, pair["access"]):
            await asyncio.sleep(0.05)
        else:
            refused_at = started

    # Refused by the other process once its remembered answer ages out: that bound (MAX_AGE,
    # one second) is tested on a fake clock in test_recent_answers.py, not timed here.
    assert refused_at is not None
