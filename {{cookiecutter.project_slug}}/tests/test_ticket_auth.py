"""Ticket mode: a bearer access JWT buys a one-time ticket; the ticket opens exactly one socket."""

import asyncio
import time
from datetime import timedelta
from unittest.mock import Mock
from urllib.parse import quote

import jwt
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.tokens import AccessToken
from websockets.exceptions import InvalidStatus

from config.asgi import application
from realtime import redis_client
from realtime.tickets import issue_ticket, redeem_ticket
from tests.conftest import ALLOWED_ORIGIN, assert_refused
from tests.credentials import live_ws_credentials_for

TICKET_URL = "/api/ws-ticket/"


def post_for_ticket(api_client, bearer):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer}")
    return api_client.post(TICKET_URL)


# The endpoint


def test_access_token_buys_a_ticket(api_client, user, tokens, settings):
    access, _ = tokens(user)

    response = post_for_ticket(api_client, access)

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"ticket", "expires_in"}
    assert body["expires_in"] == settings.WS_TICKET_TTL
    assert len(body["ticket"]) >= 22  # 128 bits or more of URL-safe base64
    assert response["Cache-Control"] == "no-store"


def test_each_ticket_is_new(api_client, user, tokens):
    access, _ = tokens(user)
    tickets = {post_for_ticket(api_client, access).json()["ticket"] for _ in range(5)}
    assert len(tickets) == 5


def test_no_credential_gets_401(api_client, db):
    response = api_client.post(TICKET_URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_expired_access_token_gets_401(api_client, user):
    expired = AccessToken.for_user(user)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    assert post_for_ticket(api_client, str(expired)).status_code == 401


@pytest.mark.parametrize("claim", ["aud", "iss"])
def test_access_token_of_another_audience_or_issuer_gets_401(api_client, user, settings, claim):
    payload = {
        **AccessToken.for_user(user).payload,
        "aud": settings.SIMPLE_JWT["AUDIENCE"],
        "iss": settings.SIMPLE_JWT["ISSUER"],
        claim: "another-service",
    }
    foreign = jwt.encode(payload, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")
    assert post_for_ticket(api_client, foreign).status_code == 401


def test_refresh_token_gets_401(api_client, user, tokens):
    _, refresh = tokens(user)
    assert post_for_ticket(api_client, refresh).status_code == 401


def test_session_cookie_alone_gets_401(api_client, user):
    api_client.force_login(user)
    assert api_client.post(TICKET_URL).status_code == 401


def test_get_is_not_allowed(api_client, user, tokens):
    access, _ = tokens(user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api_client.get(TICKET_URL).status_code == 405


def test_ticket_issuance_is_throttled_per_user(api_client, user, other_user, tokens, settings):
    allowed, _ = ScopedRateThrottle().parse_rate(
        settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["ws_ticket"]
    )
    access, _ = tokens(user)
    statuses = [post_for_ticket(api_client, access).status_code for _ in range(allowed + 1)]

    assert statuses == [201] * allowed + [429]
    throttled = post_for_ticket(api_client, access)
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    # Another user is not affected.
    other_access, _ = tokens(other_user)
    assert post_for_ticket(api_client, other_access).status_code == 201


def test_ticket_is_not_a_bearer_token(api_client, user, tokens):
    access, _ = tokens(user)
    ticket = post_for_ticket(api_client, access).json()["ticket"]
    assert post_for_ticket(api_client, ticket).status_code == 401


# Redeeming


async def ticket_for(user):
    return await sync_to_async(issue_ticket)(user)


async def test_ticket_connects_as_its_user(communicator, ws_credentials, user):
    comm = communicator(**await ws_credentials(user))

    connected, _ = await comm.connect()

    assert connected
    await comm.send_json_to({"message": "hi"})
    assert (await comm.receive_json_from())["user"] == "alice"


async def test_ticket_works_once(communicator, user):
    ticket = await ticket_for(user)
    first = communicator(query=f"ticket={ticket}")
    assert (await first.connect())[0]

    await assert_refused(communicator(query=f"ticket={ticket}"))


async def test_concurrent_redeems_of_one_ticket_admit_exactly_one(user):
    ticket = await ticket_for(user)
    comms = [
        WebsocketCommunicator(
            application, f"/ws/chat/lobby/?ticket={ticket}", headers=[(b"origin", ALLOWED_ORIGIN)]
        )
        for _ in range(20)
    ]

    results = await asyncio.gather(*(comm.connect() for comm in comms))

    assert sum(connected for connected, _ in results) == 1
    for comm in comms:
        await comm.disconnect()


async def test_expired_ticket_is_refused(communicator, user, settings):
    settings.WS_TICKET_TTL = 1
    ticket = await ticket_for(user)
    await asyncio.sleep(1.2)
    await assert_refused(communicator(query=f"ticket={ticket}"))


async def test_ticket_of_user_deactivated_since_is_refused(communicator, user):
    ticket = await ticket_for(user)
    user.is_active = False
    await sync_to_async(user.save)()
    await assert_refused(communicator(query=f"ticket={ticket}"))


@pytest.mark.parametrize("change", ["deactivate", "delete"])
async def test_user_changed_right_after_a_handshake_is_refused_at_once(communicator, user, change):
    first, second = await ticket_for(user), await ticket_for(user)
    assert (await communicator(query=f"ticket={first}").connect())[0]  # the user is remembered

    if change == "deactivate":
        user.is_active = False
        await sync_to_async(user.save)()
    else:
        await sync_to_async(user.delete)()

    await assert_refused(communicator(query=f"ticket={second}"))


async def test_ticket_of_user_deleted_since_is_refused(communicator, user):
    ticket = await ticket_for(user)
    await sync_to_async(user.delete)()
    await assert_refused(communicator(query=f"ticket={ticket}"))


@pytest.mark.parametrize(
    "ticket",
    ["", "unknown", "A" * 43, "A" * 5000, "caf\u00e9" * 11, "a b", "a\nb", "*", "a" * 42 + "*"],
)
async def test_unknown_or_malformed_ticket_is_refused(communicator, ticket):
    await assert_refused(communicator(query=f"ticket={quote(ticket)}"))


@pytest.mark.parametrize(
    "ticket",
    ["", "x" * 5000, "caf\u00e9" * 11, "a b" + "c" * 40, "a\nb" + "c" * 40, "*" * 43, "a" * 44],
)
async def test_what_cannot_be_a_ticket_is_never_looked_up(monkeypatch, ticket):
    cache_spy = Mock(spec=["aget", "adelete"])
    monkeypatch.setattr("realtime.tickets.cache", cache_spy)

    assert await redeem_ticket(ticket) is None
    assert cache_spy.mock_calls == []


async def test_access_jwt_as_ticket_is_refused(communicator, user, access_token):
    access = access_token(user)
    await assert_refused(communicator(query=f"ticket={access}"))


async def test_token_parameter_is_refused_in_this_mode(communicator, user, access_token):
    access = access_token(user)
    await assert_refused(communicator(query=f"token={access}"))
    # Even next to a valid ticket: the client is putting a JWT in a URL.
    ticket = await ticket_for(user)
    await assert_refused(communicator(query=f"ticket={ticket}&token={access}"))


async def test_token_subprotocol_is_refused_in_this_mode(communicator, user, access_token):
    subprotocols = ["chat.v1", f"access_token.{access_token(user)}"]
    await assert_refused(communicator(subprotocols=subprotocols))
    # Even next to a valid ticket: the client is sending the wrong credential.
    ticket = await ticket_for(user)
    await assert_refused(communicator(query=f"ticket={ticket}", subprotocols=subprotocols))


async def test_ticket_remembers_when_its_access_token_expires(user):
    expires_at = int(time.time()) + 300
    ticket = await sync_to_async(issue_ticket)(user, token_expires_at=expires_at)

    redeemed = await redeem_ticket(ticket)

    assert redeemed.user == user
    assert redeemed.expires_at == expires_at


async def test_one_ticket_raced_over_two_server_processes_admits_exactly_one(
    redis_url, server_process
):
    servers = [server_process(), server_process()]
    credentials = await asyncio.to_thread(live_ws_credentials_for, servers[0])

    async def attempt(server):
        try:
            async with server.websocket(**credentials):
                return True
        except InvalidStatus as refused:
            assert refused.response.status_code == 403
            return False

    results = await asyncio.gather(*(attempt(servers[i % 2]) for i in range(20)))

    assert sum(results) == 1


async def test_a_burst_of_redemptions_waits_for_pooled_connections(redis_url, isolated_redis_keys):
    redis = await redis_client.cache_redis()
    burst = 3 * redis_client.MAX_CONNECTIONS
    keys = [f"{isolated_redis_keys}:cache:burst:{i}" for i in range(burst)]

    results = await asyncio.gather(*(redis.getdel(key) for key in keys))

    assert results == [None] * burst
