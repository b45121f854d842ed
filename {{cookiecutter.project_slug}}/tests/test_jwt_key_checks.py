"""Weak or public JWT signing keys are refused (realtime/checks.py), and development gets a fresh
key per run instead of a published one (config/settings.py)."""

import os
import secrets
import subprocess
import sys

import pytest
from django.core.checks import run_checks

from realtime.checks import KNOWN_DEVELOPMENT_KEYS
from tests.live_server import PROJECT_DIR

WEAK_KEYS = {
    "short": "changeme",
    "31-bytes": "x" * 31,
    "published": next(iter(KNOWN_DEVELOPMENT_KEYS)),
    "django-insecure": "django-insecure-" + "k" * 50,
}


def check_ids():
    return {message.id for message in run_checks()}


def with_signing_key(settings, key):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "SIGNING_KEY": key}


@pytest.mark.parametrize("key", WEAK_KEYS.values(), ids=WEAK_KEYS.keys())
def test_a_weak_or_public_signing_key_is_an_error_without_debug(settings, key):
    settings.DEBUG = False
    with_signing_key(settings, key)
    assert "realtime.E003" in check_ids()


def test_a_weak_signing_key_is_a_warning_in_debug(settings):
    settings.DEBUG = True
    with_signing_key(settings, "changeme")
    ids = check_ids()
    assert "realtime.W003" in ids
    assert "realtime.E003" not in ids


def test_a_random_signing_key_of_32_bytes_passes(settings):
    settings.DEBUG = False
    with_signing_key(settings, secrets.token_hex(16))
    assert {"realtime.E003", "realtime.W003"}.isdisjoint(check_ids())


def run_manage(*args, **env):
    """`manage.py *args` in a fresh interpreter with these variables only (and no .env)."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "REDIS_", "DATABASE_", "JWT_", "WS_"))
    }
    clean.update(DJANGO_ENV_FILE="", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=clean,
        capture_output=True,
        text=True,
    )


def test_check_deploy_refuses_changeme_as_jwt_signing_key():
    result = run_manage(
        "check",
        "--deploy",
        DJANGO_DEBUG="off",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="chat.example.com",
        JWT_SIGNING_KEY="changeme",
    )
    assert result.returncode != 0
    assert "realtime.E003" in result.stderr


def test_debug_without_a_secret_key_makes_a_fresh_one_per_run():
    show_key = ("shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)")
    runs = [run_manage(*show_key, DJANGO_DEBUG="on") for _ in range(2)]
    keys = [run.stdout.strip() for run in runs]

    assert all(run.returncode == 0 for run in runs), [run.stderr for run in runs]
    assert keys[0] != keys[1]
    assert not set(keys) & KNOWN_DEVELOPMENT_KEYS
    assert all(len(key) >= 32 for key in keys)
