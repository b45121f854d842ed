"""Ticket mode: a bearer access JWT buys a one-time ticket; the ticket opens exactly one socket."""

import asyncio
import time
from datetime import timedelta
from unittest.mock import Mock
from urllib.parse import quote

import jwt
import pytest
import redis
from asgiref.sync import sync_to_async
from django.test import Client
from prometheus_client import REGISTRY
from rest_framework_simplejwt.tokens import AccessToken

from config.asgi import application
from realtime.ticket_endpoint import MAX_BODY_BYTES
from realtime.tickets import KEY_PREFIX, REDEMPTION_OUTCOMES, issue_ticket, redeem_ticket
from tests.communicators import Communicator
from tests.handshakes import ALLOWED_ORIGIN, admitted, assert_refused
from tests.ticket_credentials import TICKET_URL, live_ws_credentials_for, post_for_ticket

# The endpoint


async def test_access_token_buys_a_ticket(user, access_token, settings):
    response = await post_for_ticket(access_token(user))

    assert response.status == 201
    body = response.json()
    assert set(body) == {"ticket", "expires_in"}
    assert body["expires_in"] == settings.WS_TICKET_TTL
    assert len(body["ticket"]) >= 22  # 128 bits or more of URL-safe base64
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.body))
    assert response.headers["cache-control"] == "no-store"


async def test_answers_carry_the_security_headers_of_django_middleware(user, access_token):
    """Served ahead of Django's stack, the endpoint still runs SecurityMiddleware and
    XFrameOptionsMiddleware on its responses, refusals included."""
    for response in [await post_for_ticket(access_token(user)), await post_for_ticket()]:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["cross-origin-opener-policy"] == "same-origin"
        assert response.headers["x-frame-options"] == "DENY"


async def test_each_ticket_is_new(user, access_token):
    access = access_token(user)
    tickets = {(await post_for_ticket(access)).json()["ticket"] for _ in range(5)}
    assert len(tickets) == 5


async def test_no_credential_gets_401():
    response = await post_for_ticket()
    assert response.status == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "authorization",
    [b"Bearer", b"Bearer  ", b"Bearer a b", b"Basic YWxpY2U6cHc=", b"bearer", b"Bearer \xff\xfe"],
)
async def test_malformed_authorization_header_gets_401(user, authorization):
    response = await post_for_ticket(headers=[(b"authorization", authorization)])
    assert response.status == 401


async def test_expired_access_token_gets_401(user, access_token):
    expired = access_token(user, lifetime=-timedelta(seconds=1))
    assert (await post_for_ticket(expired)).status == 401


@pytest.mark.parametrize("claim", ["aud", "iss"])
async def test_access_token_of_another_audience_or_issuer_gets_401(user, settings, claim):
    payload = {
        **AccessToken.for_user(user).payload,
        "aud": settings.SIMPLE_JWT["AUDIENCE"],
        "iss": settings.SIMPLE_JWT["ISSUER"],
        claim: "another-service",
    }
    foreign = jwt.encode(payload, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")
    assert (await post_for_ticket(foreign)).status == 401


async def test_refresh_token_gets_401(user, tokens):
    _, refresh = await sync_to_async(tokens)(user)
    assert (await post_for_ticket(refresh)).status == 401


async def test_token_of_a_deactivated_user_gets_401(user, access_token):
    access = access_token(user)
    user.is_active = False
    await sync_to_async(user.save)()
    assert (await post_for_ticket(access)).status == 401


async def test_session_cookie_alone_gets_401(user, settings):
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    response = await post_for_ticket(headers=[(b"cookie", cookie.encode())])

    assert response.status == 401


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"])
async def test_only_post_is_allowed(user, access_token, method):
    response = await post_for_ticket(access_token(user), method=method)
    assert response.status == 405
    assert response.headers["allow"] == "POST"


async def test_ticket_issuance_is_throttled_per_user(user, other_user, access_token, settings):
    settings.WS_TICKET_THROTTLE_RATE = "3/min"
    access = access_token(user)
    statuses = [(await post_for_ticket(access)).status for _ in range(4)]

    assert statuses == [201, 201, 201, 429]
    throttled = await post_for_ticket(access)
    assert throttled.status == 429
    assert 0 < int(throttled.headers["retry-after"]) <= 60
    # Another user is not affected.
    assert (await post_for_ticket(access_token(other_user))).status == 201


async def test_a_request_over_the_rate_leaves_no_ticket_behind(
    redis_url, isolated_redis_keys, user, access_token, settings
):
    """On Redis the request is counted and its ticket stored in one round trip; a ticket stored
    for a request over the rate is deleted again."""
    settings.WS_TICKET_THROTTLE_RATE = "1/min"
    access = access_token(user)
    assert (await post_for_ticket(access)).status == 201
    assert (await post_for_ticket(access)).status == 429

    client = redis.Redis.from_url(redis_url)
    try:
        stored = list(client.scan_iter(match=f"{isolated_redis_keys}:cache:*:{KEY_PREFIX}*"))
    finally:
        client.close()
    assert len(stored) == 1


async def test_ticket_is_not_a_bearer_token(user, access_token):
    ticket = (await post_for_ticket(access_token(user))).json()["ticket"]
    assert (await post_for_ticket(ticket)).status == 401


async def test_host_outside_allowed_hosts_gets_400(user, access_token, settings, caplog):
    settings.ALLOWED_HOSTS = ["chat.example.com"]

    response = await post_for_ticket(access_token(user), headers=[(b"host", b"evil.example")])

    assert response.status == 400
    assert b"ticket" not in response.body
    (record,) = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert "evil.example" in record.getMessage()


async def test_plain_http_is_redirected_to_https_when_ssl_redirect_is_on(
    user, access_token, settings
):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    access = access_token(user)

    plain = await post_for_ticket(access)
    secure = await post_for_ticket(access, headers=[(b"x-forwarded-proto", b"https")])

    assert plain.status == 301
    assert plain.headers["location"] == f"https://testserver{TICKET_URL}"
    assert "ticket" not in plain.body.decode()
    assert secure.status == 201
    assert secure.headers["strict-transport-security"] == "max-age=3600"


async def test_a_request_body_over_the_limit_gets_413(user, access_token):
    body = b"x" * (MAX_BODY_BYTES + 1)
    response = await post_for_ticket(access_token(user), body=body)
    assert response.status == 413


# Redeeming


async def ticket_for(user):
    return await issue_ticket(user)


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
        Communicator(
            application, f"/ws/chat/lobby/?ticket={ticket}", headers=[(b"origin", ALLOWED_ORIGIN)]
        )
        for _ in range(20)
    ]

    results = await asyncio.gather(*(comm.connect() for comm in comms))

    assert sum(connected for connected, _ in results) == 1
    for comm in comms:
        await comm.disconnect()


def redemptions():
    """realtime_ticket_redemptions_total by outcome, as this process exports it."""
    return {
        outcome: REGISTRY.get_sample_value(
            "realtime_ticket_redemptions_total", {"outcome": outcome}
        )
        for outcome in REDEMPTION_OUTCOMES
    }


async def test_each_redemption_is_counted_once_by_its_outcome(communicator, user):
    before = redemptions()
    ticket, revoked = await ticket_for(user), await ticket_for(user)

    assert (await communicator(query=f"ticket={ticket}").connect())[0]
    await assert_refused(communicator(query=f"ticket={ticket}"))  # used already
    await assert_refused(communicator(query="ticket=" + "*" * 43))
    user.is_active = False
    await sync_to_async(user.save)()
    await assert_refused(communicator(query=f"ticket={revoked}"))

    counted = {outcome: count - before[outcome] for outcome, count in redemptions().items()}
    assert counted == {"redeemed": 1, "unknown": 1, "malformed": 1, "revoked": 1, "unavailable": 0}


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
    ticket = await issue_ticket(user, token_expires_at=expires_at)

    redeemed = await redeem_ticket(ticket)

    assert redeemed.user == user
    assert redeemed.expires_at == expires_at


async def test_one_ticket_raced_over_two_server_processes_admits_exactly_one(
    redis_url, server_process
):
    servers = [server_process(), server_process()]
    credentials = await asyncio.to_thread(live_ws_credentials_for, servers[0])

    attempts = (admitted(servers[i % 2], credentials) for i in range(20))
    results = await asyncio.gather(*attempts)

    assert sum(results) == 1
