"""The ticket mode's system checks.

realtime.W001: with DEBUG off, WebSocket tickets must live in a cache every worker shares.
realtime.E001: WS_TICKET_THROTTLE_RATE must be a rate.
"""

import pytest
from django.core.checks import Tags, run_checks

LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
REDIS = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x:6379"}


def check_ids():
    return {message.id for message in run_checks(tags=[Tags.caches])}


def test_per_process_cache_without_debug_warns(settings):
    settings.DEBUG = False
    settings.CACHES = {"default": LOCMEM}
    assert "realtime.W001" in check_ids()


@pytest.mark.parametrize(("debug", "cache"), [(True, LOCMEM), (False, REDIS), (True, REDIS)])
def test_debug_or_a_shared_cache_does_not_warn(settings, debug, cache):
    settings.DEBUG = debug
    settings.CACHES = {"default": cache}
    assert "realtime.W001" not in check_ids()


@pytest.mark.parametrize("rate", ["60/min", "1/s", "1000/hour", "5/day", "10/m"])
def test_a_readable_throttle_rate_passes(settings, rate):
    settings.WS_TICKET_THROTTLE_RATE = rate
    assert "realtime.E001" not in {message.id for message in run_checks()}


@pytest.mark.parametrize("rate", ["", "60", "sixty/min", "60/fortnight", "0/min", "-5/min", None])
def test_an_unreadable_throttle_rate_is_an_error(settings, rate):
    settings.WS_TICKET_THROTTLE_RATE = rate
    assert "realtime.E001" in {message.id for message in run_checks()}
