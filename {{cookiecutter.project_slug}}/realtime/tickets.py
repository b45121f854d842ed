"""One-time WebSocket tickets, kept in Django's cache (Redis when REDIS_URL is set).

A ticket is 256 random bits, lives WS_TICKET_TTL seconds, and is redeemed at most once: redeeming
takes it out of the cache atomically (GETDEL on Redis; a locked delete in the local-memory
cache), and only the caller that took it wins. This holds between concurrent handshakes and
between processes.

On Redis, tickets are written and read through one connection per process that every handshake
shares (realtime.redis_client), under the cache's own key names: a redemption is one round trip
(GETDEL, Redis 6.2 or later). The local-memory cache is called directly on the event loop: it
does no I/O, so a thread hop would only add cost.
"""

import json
import math
import re
import secrets
import time

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.settings import api_settings

from realtime.handshake import Authentication
from realtime.redis_client import cache_redis, uses_redis
from realtime.users import recent_answers

KEY_PREFIX = "ws-ticket:"
# Per user and time window: how many tickets they asked for in it.
RATE_KEY_PREFIX = "ws-ticket-rate:"
# secrets.token_urlsafe(32) is always 43 characters of the URL-safe base64 alphabet.
TICKET_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


def new_ticket(user, token_expires_at: int | None) -> tuple[str, str, dict]:
    """A fresh ticket for `user`: (ticket, cache key, claims to store under it)."""
    ticket = secrets.token_urlsafe(32)
    # The primary key as text: JSON-safe for any key type (integers, UUIDs).
    claims = {"user": user._meta.pk.value_to_string(user), "token_expires_at": token_expires_at}
    return ticket, KEY_PREFIX + ticket, claims


async def issue_ticket(user, token_expires_at: int | None = None) -> str:
    """Store a new ticket for `user` and return it."""
    ticket, key, claims = new_ticket(user, token_expires_at)
    if uses_redis():
        # Through the process's shared connection: Django's RedisCache would connect anew.
        await (await cache_redis()).execute(*set_command(key, claims))
    elif in_process_memory():
        cache.set(key, claims, timeout=settings.WS_TICKET_TTL)
    else:
        await cache.aset(key, claims, timeout=settings.WS_TICKET_TTL)
    return ticket


async def issue_ticket_within_rate(user, token_expires_at: int | None) -> tuple[str | None, int]:
    """Counts one request for a ticket by `user`; (a new ticket, 0) if it is within the rate, else
    (None, how many seconds until the next request is).

    At most N requests per period (WS_TICKET_THROTTLE_RATE, DRF's "N/period" format), in fixed
    windows counted in the shared cache, so that the limit holds across processes.
    """
    allowed, period = ScopedRateThrottle().parse_rate(settings.WS_TICKET_THROTTLE_RATE)
    now = time.time()
    window = int(now // period)
    rate_key = f"{RATE_KEY_PREFIX}{user._meta.pk.value_to_string(user)}:{window}"
    wait = max(1, math.ceil((window + 1) * period - now))
    if not uses_redis():
        if await count(rate_key, period) > allowed:
            return None, wait
        return await issue_ticket(user, token_expires_at), 0
    # One round trip: count the request and store the ticket. A ticket stored for a request over
    # the rate was never handed out; it is deleted again.
    ticket, key, claims = new_ticket(user, token_expires_at)
    rate_name = cache.make_and_validate_key(rate_key)
    redis = await cache_redis()
    requests, _, _ = await redis.execute_many(
        ("INCR", rate_name), ("EXPIRE", rate_name, period), set_command(key, claims)
    )
    if requests > allowed:
        await redis.execute("DEL", cache.make_and_validate_key(key))
        return None, wait
    return ticket, 0


def set_command(key: str, claims: dict) -> tuple:
    """The Redis command that stores a ticket's claims under the cache's name for `key`, for
    WS_TICKET_TTL seconds."""
    name = cache.make_and_validate_key(key)
    return ("SET", name, json.dumps(claims), "EX", settings.WS_TICKET_TTL)


async def count(key: str, lifetime: int) -> int:
    """Add one to the counter under `key` in Django's cache (created to live `lifetime` seconds);
    return the sum."""
    if in_process_memory():
        cache.add(key, 0, timeout=lifetime)
        return cache.incr(key)
    await cache.aadd(key, 0, timeout=lifetime)
    return await cache.aincr(key)


async def redeem_ticket(ticket: str) -> Authentication | None:
    """Consume `ticket`: who it was for, until when the access token it was bought with is valid.

    None if it is unknown, used, or expired.
    Also None when the user has been deleted or deactivated since the ticket was issued.
    """
    # What cannot be a ticket is never looked up (nor turned into a cache key).
    if not TICKET_PATTERN.fullmatch(ticket):
        return None
    claims = await take(KEY_PREFIX + ticket)
    if claims is None:
        return None
    # The primary key as the ticket stores it (text): the database converts it on a lookup, and
    # the memo's key stays the same for every ticket of the user.
    user_pk = claims["user"]
    user = await recent_answers.get(("user", user_pk), lambda: get_active_user(user_pk))
    if user is None:
        return None
    return Authentication(user=user, expires_at=claims["token_expires_at"])


async def take(key: str) -> dict | None:
    """Remove `key` from the cache and return its value, or None if another caller got it first."""
    if uses_redis():
        redis = await cache_redis()
        # make_key, not make_and_validate_key: the ticket matched TICKET_PATTERN, so the key
        # has nothing to warn about, and checking it character by character costs every handshake.
        value = await redis.execute("GETDEL", cache.make_key(key))
        return None if value is None else json.loads(value)
    if in_process_memory():
        # In memory, under the cache's lock: no I/O to wait for. Of all the callers that read
        # the value, only the one whose delete removed the key gets it.
        value = cache.get(key)
        return value if value is not None and cache.delete(key) else None
    value = await cache.aget(key)
    return value if value is not None and await cache.adelete(key) else None


def in_process_memory() -> bool:
    """Whether the cache is the local-memory one, whose calls never wait for I/O."""
    return isinstance(caches[DEFAULT_CACHE_ALIAS], LocMemCache)


@database_sync_to_async
def get_active_user(user_pk):
    """The user if they still exist and may authenticate (simplejwt's USER_AUTHENTICATION_RULE).

    Channels' wrapper closes stale database connections.
    """
    user = get_user_model()._default_manager.filter(pk=user_pk).first()
    return user if api_settings.USER_AUTHENTICATION_RULE(user) else None
