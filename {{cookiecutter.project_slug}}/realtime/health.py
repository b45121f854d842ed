"""`/healthz` and `/readyz`, answered ahead of Django's handler (config/asgi.py).

- `GET /healthz` (liveness): 200 `{"status": "ok"}` as long as the process's event loop answers.
  No I/O: a database or Redis outage must not get healthy processes restarted.
- `GET /readyz` (readiness): the database (`SELECT 1`), the cache (a write) and a channel-layer
  round trip (a message sent to a fresh channel of this process and received back), at once, each
  within READINESS_TIMEOUT seconds. 200 `{"status": "ok"}`, or 503
  `{"status": "unavailable", "failed": [...]}` naming what failed, for a load balancer to stop
  sending this process new clients.

Both answer any Host, over plain HTTP: they run before ALLOWED_HOSTS and the HTTPS redirect, so a
container's health check and an orchestrator's probe reach them by address, and they tell nothing
but which dependency is down. Other methods get 405. `QuietHealthChecks` keeps their successful
polls out of the access log.
"""

import asyncio
import json
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connections

logger = logging.getLogger(__name__)

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
HEALTH_PATHS = frozenset({LIVENESS_PATH, READINESS_PATH})
READINESS_CACHE_KEY = "readyz"
PING = {"type": "readyz.ping"}


def _select_one() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


async def check_database() -> None:
    await sync_to_async(_select_one)()


async def check_cache() -> None:
    await cache.aset(READINESS_CACHE_KEY, "ok", timeout=60)


async def check_channel_layer() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    try:
        await layer.send(channel, PING)
        if await layer.receive(channel) != PING:
            raise RuntimeError("the channel layer returned another message")
    finally:
        # Leave the channel as Channels' consumers do: a pending receive, cancelled, unsubscribes.
        leave = asyncio.create_task(layer.receive(channel))
        await asyncio.sleep(0)
        leave.cancel()
        await asyncio.gather(leave, return_exceptions=True)


CHECKS = {"database": check_database, "cache": check_cache, "channel_layer": check_channel_layer}


async def _passes(check) -> bool:
    try:
        async with asyncio.timeout(settings.READINESS_TIMEOUT):
            await check()
    except Exception:
        return False
    return True


async def failed_checks() -> list[str]:
    """The names in CHECKS whose check raised or took longer than READINESS_TIMEOUT."""
    results = await asyncio.gather(*(_passes(check) for check in CHECKS.values()))
    return [name for name, passed in zip(CHECKS, results, strict=True) if not passed]


class HealthEndpoints:
    """ASGI middleware: answers HTTP requests for HEALTH_PATHS itself, passes on everything else."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in HEALTH_PATHS:
            return await self.inner(scope, receive, send)
        if scope["method"] not in ("GET", "HEAD"):
            return await respond(
                send, 405, {"detail": "GET or HEAD only"}, [(b"allow", b"GET, HEAD")]
            )
        if scope["path"] == LIVENESS_PATH:
            return await respond(send, 200, {"status": "ok"})
        failed = await failed_checks()
        if failed:
            logger.warning("Not ready: %s failed", ", ".join(failed))
            return await respond(send, 503, {"status": "unavailable", "failed": failed})
        return await respond(send, 200, {"status": "ok"})


async def respond(send, status, payload, extra_headers=()):
    body = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *extra_headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class QuietHealthChecks(logging.Filter):
    """A filter for uvicorn's access log: drops the lines of successful health checks (polled
    every few seconds, they would drown the log); failures stay."""

    def filter(self, record):
        args = record.args
        if not isinstance(args, tuple) or len(args) != 5:
            return True
        _client, _method, path, _version, status = args
        return not (path.split("?", 1)[0] in HEALTH_PATHS and int(status) < 400)
