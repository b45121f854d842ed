"""CHAT_PRESENCE_TTL is checked at start-up (realtime/checks.py).

realtime.E005: not a positive number of seconds.
realtime.W006: a dead process's users would stay in presence past 30 seconds (TTL * 4/3).
"""

import math

import pytest
from django.core.checks import run_checks

from realtime.checks import MAX_PRESENCE_GHOST_SECONDS
from realtime.presence import ghost_bound


def check_ids():
    return {message.id for message in run_checks()}


@pytest.mark.parametrize("ttl", [0, -1, math.nan, math.inf, "20", None, True])
def test_a_ttl_that_is_not_a_positive_number_is_an_error(settings, ttl):
    settings.CHAT_PRESENCE_TTL = ttl
    assert "realtime.E005" in check_ids()


@pytest.mark.parametrize("ttl", [0.5, 3, 20, 22.5])
def test_a_ttl_whose_users_leave_within_30_seconds_passes(settings, ttl):
    settings.CHAT_PRESENCE_TTL = ttl
    assert {"realtime.E005", "realtime.W006"}.isdisjoint(check_ids())


@pytest.mark.parametrize("ttl", [22.6, 30, 600])
def test_a_ttl_that_leaves_a_dead_processs_users_online_past_30_seconds_warns(settings, ttl):
    settings.CHAT_PRESENCE_TTL = ttl
    assert ghost_bound(ttl) > MAX_PRESENCE_GHOST_SECONDS
    (warning,) = [message for message in run_checks() if message.id == "realtime.W006"]
    assert "22.5 or less" in warning.hint


def test_the_default_ttl_passes_and_its_bound_is_27_seconds(settings):
    assert settings.CHAT_PRESENCE_TTL == 20
    assert round(ghost_bound(settings.CHAT_PRESENCE_TTL)) == 27
    assert {"realtime.E005", "realtime.W006"}.isdisjoint(check_ids())


def test_presence_off_checks_no_ttl(settings):
    settings.CHAT_PRESENCE = False
    settings.CHAT_PRESENCE_TTL = 0
    assert "realtime.E005" not in check_ids()
