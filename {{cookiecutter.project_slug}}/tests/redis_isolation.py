"""Tests on a shared Redis write under a key prefix of their own and delete exactly those keys.

Never FLUSHDB: other people's keys live in the same database.
"""

import uuid

import redis
from django.conf import settings


def new_prefix() -> str:
    """A key prefix no other test run (or pytest-xdist worker) uses."""
    return f"{settings.REDIS_KEY_PREFIX}:test-{uuid.uuid4().hex[:12]}"


def prefixed_settings(prefix: str) -> dict:
    """Settings overrides that put the channel layer's and the cache's keys under `prefix`."""
    layers = settings.CHANNEL_LAYERS
    caches = settings.CACHES
    return {
        "REDIS_KEY_PREFIX": prefix,
        "CHANNEL_LAYERS": {
            "default": {
                **layers["default"],
                "CONFIG": {**layers["default"]["CONFIG"], "prefix": f"{prefix}:channels"},
            }
        },
        "CACHES": {"default": {**caches["default"], "KEY_PREFIX": f"{prefix}:cache"}},
    }


def delete_keys(url: str, prefix: str) -> None:
    """Delete every key that starts with `prefix`, and no other."""
    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
    finally:
        client.close()
