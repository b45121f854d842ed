"""What one client may cost the server: frames per socket, and open sockets per user.

- MessageRate: a token bucket per socket. A socket may send WS_MESSAGE_BURST frames at once, and
  WS_MESSAGE_RATE frames a second for as long as it likes. A frame past that is dropped and
  answered with an `error` frame (`rate_limited`, with `retry_after` in seconds); a socket that
  keeps sending while refused (more refused frames in a row than the burst) is closed with 4429
  `rate_limited`.
- ConnectionSlots: at most WS_MAX_CONNECTIONS_PER_USER open sockets per user, counted across every
  process in a sorted set on the cache's Redis (socket -> when its credential expires), or in
  this process without Redis. A socket's entry is removed when it closes, and counts no longer
  than its credential could keep it open: the sockets of a process that died without closing
  them stop counting when their access tokens expire (JWT_ACCESS_TOKEN_LIFETIME plus JWT_LEEWAY,
  at most). An in-band token refresh moves the socket's entry with its deadline. A socket over
  the limit is accepted, then closed with 4429 `too_many_connections`, so that the client
  learns why and backs off.

Frame size is limited by the server before any of this runs: uvicorn's `--ws-max-size` (close
1009), WS_MAX_FRAME_BYTES in the consumer for servers that have no such limit.
"""

import time
from contextlib import suppress

from django.conf import settings

from realtime.redis_client import cache_key, cache_redis, uses_redis
from realtime.redis_outages import REDIS_UNAVAILABLE

ALLOWED, REFUSED, CLOSE = "allowed", "refused", "close"
# How long a socket whose credential never expires counts, unless it closes or is extended.
NO_EXPIRY_SECONDS = 3600


class MessageRate:
    """One socket's token bucket: `take()` for each frame says ALLOWED, REFUSED or CLOSE."""

    # One per socket: slotted.
    __slots__ = ("burst", "clock", "rate", "refused_in_a_row", "tokens", "updated")

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.updated = clock()
        self.refused_in_a_row = 0

    @classmethod
    def from_settings(cls) -> "MessageRate":
        return cls(settings.WS_MESSAGE_RATE, settings.WS_MESSAGE_BURST)

    def take(self) -> str:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.refused_in_a_row = 0
            return ALLOWED
        self.refused_in_a_row += 1
        return CLOSE if self.refused_in_a_row > self.burst else REFUSED

    def retry_after(self) -> float:
        """Seconds until the next frame would be allowed."""
        return round((1 - self.tokens) / self.rate, 3)


def slot_key(user_pk) -> str:
    # Under the cache's key prefix, like the tickets: one namespace per project (and test run).
    return cache_key(f"ws-connections:{user_pk}")


# Atomic, so that concurrent handshakes of one user never exceed the limit together.
# KEYS[1]: the user's set; ARGV: now, the socket's deadline, its channel name, the limit.
ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(last[2])))
return 1
"""
# KEYS[1]: the user's set; ARGV: the socket's new deadline, its channel name.
EXTEND = """
redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(last[2]))) end
return 1
"""


class RedisConnectionSlots:
    """Every process's sockets, on the Redis of Django's RedisCache, through the process's shared
    connection (realtime.redis_client). One round trip per handshake, per close, per refresh."""

    async def acquire(self, user_pk, channel: str, deadline: float | None) -> bool:
        limit = settings.WS_MAX_CONNECTIONS_PER_USER
        now = time.time()
        deadline = deadline or now + NO_EXPIRY_SECONDS
        command = ("EVAL", ACQUIRE, 1, slot_key(user_pk), now, deadline, channel, limit)
        return bool(await (await cache_redis()).execute(*command))

    async def extend(self, user_pk, channel: str, deadline: float | None) -> None:
        deadline = deadline or time.time() + NO_EXPIRY_SECONDS
        await (await cache_redis()).execute("EVAL", EXTEND, 1, slot_key(user_pk), deadline, channel)

    async def release(self, user_pk, channel: str) -> None:
        # Best effort: an entry left behind while Redis is down stops counting at its deadline.
        with suppress(*REDIS_UNAVAILABLE):
            await (await cache_redis()).execute("ZREM", slot_key(user_pk), channel)


class LocalConnectionSlots:
    """This process's sockets (no Redis: one process serves the site)."""

    def __init__(self):
        self.deadlines: dict[object, dict[str, float]] = {}  # user pk -> channel -> deadline

    async def acquire(self, user_pk, channel: str, deadline: float | None) -> bool:
        now = time.time()
        sockets = self.deadlines.setdefault(user_pk, {})
        for gone in [name for name, until in sockets.items() if until <= now]:
            del sockets[gone]
        if len(sockets) >= settings.WS_MAX_CONNECTIONS_PER_USER:
            return False
        sockets[channel] = deadline or now + NO_EXPIRY_SECONDS
        return True

    async def extend(self, user_pk, channel: str, deadline: float | None) -> None:
        sockets = self.deadlines.get(user_pk, {})
        if channel in sockets:
            sockets[channel] = deadline or time.time() + NO_EXPIRY_SECONDS

    async def release(self, user_pk, channel: str) -> None:
        sockets = self.deadlines.get(user_pk, {})
        sockets.pop(channel, None)
        if not sockets:
            self.deadlines.pop(user_pk, None)


REDIS_CONNECTION_SLOTS = RedisConnectionSlots()
LOCAL_CONNECTION_SLOTS = LocalConnectionSlots()


def connection_slots() -> RedisConnectionSlots | LocalConnectionSlots:
    """The slots for the default cache as configured now."""
    return REDIS_CONNECTION_SLOTS if uses_redis() else LOCAL_CONNECTION_SLOTS
