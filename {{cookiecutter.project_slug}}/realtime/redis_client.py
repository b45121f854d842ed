"""One shared redis.asyncio client per event loop (in a server process: one), on the Redis of
Django's default cache.

Django's RedisCache builds a new connection pool for every task context (Django ticket #35651),
so under ASGI each use opens a new TCP connection to Redis. This client keeps its connections.
Its pool is bounded and waits for a free connection, so a burst of handshakes queues for a
moment instead of failing with "Too many connections".
"""

import asyncio
from contextlib import suppress

import redis.asyncio as redis
from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.utils.module_loading import import_string

# Connections per process, and how long a command waits for one before Redis counts as
# unavailable (redis-py raises ConnectionError, realtime.exceptions.REDIS_UNAVAILABLE).
MAX_CONNECTIONS = 50
CONNECTION_WAIT_SECONDS = 5

# RedisCache OPTIONS that configure Django's client, not redis-py's connection pool.
DJANGO_ONLY_OPTIONS = ("pool_class", "parser_class", "serializer")

# (event loop, url, options) -> the client, and the generator that closes it with its loop.
_clients: dict[tuple, tuple[redis.Redis, object]] = {}


def uses_redis(cache_alias: str = "default") -> bool:
    backend = settings.CACHES[cache_alias]["BACKEND"]
    return issubclass(import_string(backend), RedisCache)


async def cache_redis(cache_alias: str = "default") -> redis.Redis:
    """The running loop's client for the Redis of CACHES[cache_alias] (a RedisCache)."""
    config = settings.CACHES[cache_alias]
    location = config["LOCATION"]
    if not isinstance(location, str):
        location = location[0]
    url = location.replace(";", ",").split(",")[0]  # the server Django writes to
    options = {
        name: value
        for name, value in config.get("OPTIONS", {}).items()
        if name not in DJANGO_ONLY_OPTIONS
    }
    key = (asyncio.get_running_loop(), url, tuple(sorted(options.items())))
    if (entry := _clients.get(key)) is not None:
        return entry[0]
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=CONNECTION_WAIT_SECONDS, **options
    )
    client = redis.Redis(connection_pool=pool)
    closer = close_with_loop(key, client)
    _clients[key] = (client, closer)
    await anext(closer)
    return client


async def close_with_loop(key, client: redis.Redis):
    """Closes `client` when its event loop shuts down, while that loop can still run it.

    asyncio.run() and asyncio.Runner (uvicorn, asgiref, pytest-asyncio) close every open
    asynchronous generator before closing their loop. Iterated once, this one is among them.
    """
    try:
        yield
    finally:
        del _clients[key]
        with suppress(Exception):
            await client.aclose()
