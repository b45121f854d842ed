"""The ticket endpoint's place in the project: named in config/urls.py, served by config/asgi.py on
the event loop, inside the project's HTTP policy (HTTPS redirect, CORS, ...) as Django's stack
would serve it."""

import re

import pytest
from channels.testing import HttpCommunicator
from django.core.checks import run_checks
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_started
from django.test import AsyncClient
from django.urls import resolve, reverse

from config.asgi import django_asgi_app
from realtime.ticket_endpoint import ws_ticket
from tests.ticket_credentials import TICKET_URL, post_for_ticket

HOST = [(b"host", b"testserver")]
SPA = "https://app.example.com"  # a frontend on another origin, allowed by the tests below
PREFLIGHT = [
    (b"access-control-request-method", b"POST"),
    (b"access-control-request-headers", b"authorization"),
]


def origin(value: str) -> list[tuple[bytes, bytes]]:
    return [(b"origin", value.encode())]


def cors_headers(response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.startswith("access-")}


@pytest.fixture
def spa_allowed(settings):
    settings.CORS_ALLOWED_ORIGINS = [SPA]


def test_urls_py_names_the_endpoint():
    assert reverse("ws_ticket") == TICKET_URL
    assert resolve(TICKET_URL).func is ws_ticket


async def test_config_asgi_serves_it_ahead_of_djangos_handler(user, access_token):
    """Django's handler sends request_started for every request it serves; the ticket endpoint
    does not go through it."""
    started = []

    def record(sender, **kwargs):
        started.append(sender)

    request_started.connect(record)
    try:
        assert (await post_for_ticket(access_token(user))).status == 201
        assert started == []
        communicator = HttpCommunicator(django_asgi_app, "POST", TICKET_URL, headers=HOST)
        await communicator.get_response()
        assert started != []
    finally:
        request_started.disconnect(record)


async def test_djangos_stack_serves_the_same_view(user, access_token):
    """Reached through Django (a project that routes it there), the view works the same, with
    CSRF checks on: bearer tokens only, so it is exempt."""
    client = AsyncClient(enforce_csrf_checks=True)
    authorization = f"Bearer {access_token(user)}"

    response = await client.post(reverse("ws_ticket"), headers={"authorization": authorization})

    assert response.status_code == 201, response.content
    assert set(response.json()) == {"ticket", "expires_in"}


async def test_cors_preflight_from_an_allowed_origin_gets_the_allow_headers(spa_allowed):
    response = await post_for_ticket(method="OPTIONS", headers=[*origin(SPA), *PREFLIGHT])

    assert response.status == 200
    assert response.headers["access-control-allow-origin"] == SPA
    assert "POST" in re.split(r",\s*", response.headers["access-control-allow-methods"])
    assert "authorization" in re.split(r",\s*", response.headers["access-control-allow-headers"])
    assert "access-control-allow-credentials" not in response.headers  # bearer tokens, no cookies


async def test_cors_post_from_an_allowed_origin_gets_allow_origin(user, access_token, spa_allowed):
    response = await post_for_ticket(access_token(user), headers=origin(SPA))

    assert response.status == 201
    assert response.headers["access-control-allow-origin"] == SPA
    assert "origin" in re.split(r",\s*", response.headers["vary"].lower())


@pytest.mark.parametrize("other", ["https://evil.example", "http://app.example.com", "null"])
async def test_other_origins_get_no_cors_headers(user, access_token, spa_allowed, other):
    access = access_token(user)
    allowed = await post_for_ticket(access, headers=origin(SPA))

    preflight = await post_for_ticket(method="OPTIONS", headers=[*origin(other), *PREFLIGHT])
    post = await post_for_ticket(access, headers=origin(other))

    assert "access-control-allow-origin" in allowed.headers
    assert cors_headers(preflight) == {}
    assert cors_headers(post) == {}


async def test_no_origin_is_allowed_by_default(user, access_token):
    response = await post_for_ticket(access_token(user), headers=origin(SPA))
    assert response.status == 201
    assert cors_headers(response) == {}


# Requests that the project's HTTP policy answers or marks, as (settings, headers, method).
POLICY_CASES = {
    "plain HTTP, SSL redirect on": ({"SECURE_SSL_REDIRECT": True}, [], "POST"),
    "HSTS over HTTPS": (
        {
            "SECURE_SSL_REDIRECT": True,
            "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
            "SECURE_HSTS_SECONDS": 3600,
        },
        [(b"x-forwarded-proto", b"https")],
        "POST",
    ),
    "CORS preflight": ({"CORS_ALLOWED_ORIGINS": [SPA]}, [*origin(SPA), *PREFLIGHT], "OPTIONS"),
    "CORS request": ({"CORS_ALLOWED_ORIGINS": [SPA]}, origin(SPA), "POST"),
    "CORS request, other origin": ({"CORS_ALLOWED_ORIGINS": [SPA]}, origin(SPA + ".evil"), "POST"),
    "Host outside ALLOWED_HOSTS": ({"ALLOWED_HOSTS": ["chat.example.com"]}, [], "POST"),
    "disallowed user agent": (
        {"DISALLOWED_USER_AGENTS": [re.compile("BadBot")]},
        [(b"user-agent", b"BadBot/1.0")],
        "POST",
    ),
}


@pytest.mark.parametrize("case", POLICY_CASES)
async def test_answers_as_djangos_stack_would(user, access_token, settings, case):
    """The same request, served on the event loop and through Django's handler, gets the same
    status and headers: settings.MIDDLEWARE's policy applies to the endpoint either way."""
    overrides, headers, method = POLICY_CASES[case]
    for name, value in overrides.items():
        setattr(settings, name, value)
    request_headers = [*HOST, (b"authorization", f"Bearer {access_token(user)}".encode())]
    request_headers += headers

    fast = await post_for_ticket(method=method, headers=request_headers[1:])
    # A new handler: Django's loads its middleware, which reads some settings, when it is made.
    communicator = HttpCommunicator(ASGIHandler(), method, TICKET_URL, headers=request_headers)
    django = await communicator.get_response()

    assert fast.status == django["status"]
    # Content-Length aside: the endpoint always sends it, Django leaves it to the server at times.
    assert without_length(fast.headers) == without_length(
        {name.decode().lower(): value.decode("latin-1") for name, value in django["headers"]}
    )


def without_length(headers: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name != "content-length"}


def test_middleware_the_endpoint_skips_is_named_by_a_system_check(settings):
    assert "realtime.W005" not in {message.id for message in run_checks()}

    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]

    (warning,) = [message for message in run_checks() if message.id == "realtime.W005"]
    assert warning.obj == "django.middleware.gzip.GZipMiddleware"
