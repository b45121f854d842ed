"""WS_TICKET_TTL is checked at start-up (realtime/ticket_checks.py).

realtime.E002: less than 1 second (Redis refuses such an expiry: every ticket request would fail).
realtime.W002: longer than the access-token lifetime.
"""

from datetime import timedelta

import pytest
from django.core.checks import run_checks


def check_ids():
    return {message.id for message in run_checks()}


@pytest.mark.parametrize("ttl", [0, -1, "30", None, 1.5])
def test_a_ttl_under_one_second_or_not_whole_seconds_is_an_error(settings, ttl):
    settings.WS_TICKET_TTL = ttl
    assert "realtime.E002" in check_ids()


@pytest.mark.parametrize("ttl", [1, 30, 300])
def test_a_ttl_of_whole_seconds_within_the_token_lifetime_passes(settings, ttl):
    settings.WS_TICKET_TTL = ttl
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5)}
    assert {"realtime.E002", "realtime.W002"}.isdisjoint(check_ids())


def test_a_ttl_longer_than_the_access_token_lifetime_warns(settings):
    settings.WS_TICKET_TTL = 301
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5)}
    assert "realtime.W002" in check_ids()
