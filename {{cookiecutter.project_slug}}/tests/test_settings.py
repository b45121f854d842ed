"""Settings come from the environment, and refuse to run insecurely."""

import json
import os
import subprocess
import sys

from django.core.management import call_command

from tests.live_server import PROJECT_DIR

PRINT_SETTINGS = """
import json
import django
from django.conf import settings as s

django.setup()
print(json.dumps({
    "debug": s.DEBUG,
    "layer": s.CHANNEL_LAYERS["default"],
    "cache": s.CACHES["default"]["BACKEND"],
    "database": s.DATABASES["default"]["ENGINE"],
    "allowed_hosts": s.ALLOWED_HOSTS,
}))
"""


def load_settings(**env):
    """The settings as a fresh interpreter sees them with exactly these variables (and no .env)."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "REDIS_", "DATABASE_", "JWT_", "WS_"))
    }
    clean.update(DJANGO_SETTINGS_MODULE="config.settings", DJANGO_ENV_FILE="", **env)
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=PROJECT_DIR,
        env=clean,
        capture_output=True,
        text=True,
    )


def test_suite_reads_no_env_file(settings):
    assert settings.ENV_FILE is None


def test_production_without_secret_key_refuses_to_start():
    result = load_settings(DJANGO_DEBUG="off")
    assert result.returncode != 0
    assert "Set DJANGO_SECRET_KEY" in result.stderr


def test_debug_runs_on_embedded_defaults():
    result = load_settings(DJANGO_DEBUG="on")
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["debug"] is True
    assert loaded["layer"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"
    assert loaded["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert loaded["database"] == "django.db.backends.sqlite3"


def test_services_come_from_urls():
    result = load_settings(
        DJANGO_SECRET_KEY="k" * 50,
        REDIS_URL="redis://127.0.0.1:6379/3",
        DATABASE_URL="postgres://user@127.0.0.1:5432/app",
        DJANGO_ALLOWED_HOSTS="example.com,.example.org",
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["debug"] is False
    assert loaded["layer"]["BACKEND"] == "realtime.layers.BacklogPubSubChannelLayer"
    assert loaded["layer"]["CONFIG"]["backlog_limit"] == 1000
    assert loaded["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert loaded["database"] == "django.db.backends.postgresql"
    assert loaded["allowed_hosts"] == ["example.com", ".example.org"]


def test_core_channel_layer_never_times_out_idle_reads_nor_drops_at_100():
    result = load_settings(
        DJANGO_DEBUG="on",
        REDIS_URL="redis://127.0.0.1:6379/3",
        CHANNEL_LAYER="core",
        CHANNEL_GROUP_EXPIRY="3600",
    )
    layer = json.loads(result.stdout)["layer"]
    assert layer["BACKEND"] == "realtime.layers.BoundedRedisChannelLayer"
    (host,) = layer["CONFIG"]["hosts"]
    assert host["address"] == "redis://127.0.0.1:6379/3"
    # channels_redis#422: redis-py's default socket timeout kills sockets idle on a group.
    assert host["socket_timeout"] is None
    # channels-redis's default capacity (100) dropped 896 of 1,000 messages sent at once.
    assert layer["CONFIG"]["capacity"] == 10_000
    assert layer["CONFIG"]["group_expiry"] == 3600


def test_an_unknown_channel_layer_refuses_to_start():
    result = load_settings(DJANGO_DEBUG="on", CHANNEL_LAYER="postgres")
    assert result.returncode != 0
    assert "CHANNEL_LAYER must be pubsub or core, not 'postgres'" in result.stderr


def test_channel_redis_urls_without_redis_url_refuse_to_start():
    # The cache (tickets, throttles, connection limits) would stay in one process.
    result = load_settings(DJANGO_DEBUG="on", CHANNEL_REDIS_URLS="redis://127.0.0.1:6379/3")
    assert result.returncode != 0
    assert "CHANNEL_REDIS_URLS needs REDIS_URL" in result.stderr


def test_migrations_are_complete(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_system_checks_pass(settings):
    # As in development. pytest-django turns DEBUG off, which with the embedded per-process cache
    # is a deliberate warning in the ticket mode; production settings: tests/test_deploy.py.
    settings.DEBUG = True
    call_command("check", fail_level="WARNING")
