"""Password guessing is throttled (realtime/throttles.py): sign-ins per username and per client
address, at `/api/token/` and at the admin's login page alike, and refreshes per address. A
refused request gets 429 with Retry-After, even with the right password."""

import logging
import socket

import pytest
from django.core.checks import run_checks
from django.test import Client

from tests.users import PASSWORD

LOTS = "1000/min"
WRONG = "not the password"


def sign_in(api_client, username="alice", password=WRONG, **headers):
    return api_client.post(
        "/api/token/", {"username": username, "password": password}, format="json", **headers
    )


def assert_throttled(response):
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1


def test_guessing_one_users_password_is_throttled_per_username(settings, api_client, user):
    settings.SIGN_IN_RATE_PER_USERNAME = "3/min"
    settings.SIGN_IN_RATE_PER_ADDRESS = LOTS

    guesses = [sign_in(api_client).status_code for _ in range(3)]

    assert guesses == [401, 401, 401]
    assert_throttled(sign_in(api_client, password=PASSWORD))
    assert_throttled(sign_in(api_client, username="ALICE"))  # case does not make a new budget
    assert sign_in(api_client, username="bob").status_code == 401  # other users are unaffected


def test_guessing_from_one_address_is_throttled_whatever_x_forwarded_for_says(
    settings, api_client, user
):
    settings.SIGN_IN_RATE_PER_USERNAME = LOTS
    settings.SIGN_IN_RATE_PER_ADDRESS = "3/min"

    guesses = [
        sign_in(api_client, username=f"user{n}", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
        for n in range(3)
    ]

    assert guesses == [401, 401, 401]
    assert_throttled(sign_in(api_client, password=PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9"))


def test_refresh_is_throttled_per_address(settings, api_client, user, tokens):
    settings.TOKEN_REFRESH_RATE_PER_ADDRESS = "2/min"
    refreshes = [
        api_client.post("/api/token/refresh/", {"refresh": tokens(user)[1]}, format="json")
        for _ in range(3)
    ]

    assert [response.status_code for response in refreshes[:2]] == [200, 200]
    assert_throttled(refreshes[2])


def admin_sign_in(client, password=WRONG):
    return client.post("/admin/login/", {"username": "alice", "password": password})


def test_admin_login_is_throttled_and_shares_the_apis_budget(settings, api_client, make_user):
    make_user("alice", is_staff=True)
    settings.SIGN_IN_RATE_PER_USERNAME = "3/min"
    settings.SIGN_IN_RATE_PER_ADDRESS = LOTS
    client = Client()

    assert admin_sign_in(client).status_code == 200  # the form again, with an error
    assert sign_in(api_client).status_code == 401
    assert admin_sign_in(client).status_code == 200

    assert_throttled(admin_sign_in(client, password=PASSWORD))
    assert_throttled(sign_in(api_client, password=PASSWORD))


def test_admin_login_with_the_right_password_still_works(settings, make_user):
    make_user("alice", is_staff=True)
    settings.SIGN_IN_RATE_PER_USERNAME = "3/min"

    response = admin_sign_in(Client(), password=PASSWORD)

    assert response.status_code == 302


@pytest.mark.parametrize("rate", ["", "10", "ten/min", "10/fortnight", "0/min", None])
def test_an_unreadable_sign_in_rate_is_an_error(settings, rate):
    settings.SIGN_IN_RATE_PER_ADDRESS = rate
    assert "realtime.E004" in {message.id for message in run_checks()}


def test_sign_in_works_unthrottled_while_redis_is_unreachable(settings, api_client, user, caplog):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        }
    }

    with caplog.at_level(logging.WARNING, logger="realtime.throttles"):
        response = sign_in(api_client, password=PASSWORD)

    assert response.status_code == 200
    assert [record.getMessage().split(":")[0] for record in caplog.records] == [
        "Redis unavailable, sign_in_address not counted",
        "Redis unavailable, sign_in_username not counted",
    ]
