"""One-time WebSocket tickets, kept in Django's default cache (Redis when REDIS_URL is set).

A ticket is 256 random bits, lives WS_TICKET_TTL seconds, and is redeemed at most once: redeeming
takes it out of the store atomically, and only the caller that took it wins. This holds between
concurrent handshakes and between processes. Tickets and the per-user request counts live behind
one store object, `ticket_store()`: on Redis, one round trip per redemption (GETDEL, Redis 6.2 or
later) and per issue; on any other cache, Django's own cache API.

Every redemption is counted by outcome in `realtime_ticket_redemptions_total{outcome}`
(Prometheus, served with realtime.metrics' metrics): `redeemed`; `unknown`: no such ticket (never
issued, used already, or expired); `malformed`: not shaped like a ticket, never looked up;
`revoked`: taken, but its user or session no longer stands; `unavailable`: the store (Redis) was
unreachable.
"""

import json
import math
import re
import secrets
import time

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache
from prometheus_client import Counter
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.settings import api_settings

from realtime.credentials import Authentication
from realtime.recent_answers import recent_answers
from realtime.redis_client import cache_key, cache_redis, uses_redis
from realtime.redis_outages import REDIS_UNAVAILABLE
from realtime.sign_ins import check_user, revoke_claim_of

KEY_PREFIX = "ws-ticket:"
# Per user and time window: how many tickets they asked for in it.
RATE_KEY_PREFIX = "ws-ticket-rate:"
# secrets.token_urlsafe(32) is always 43 characters of the URL-safe base64 alphabet.
TICKET_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")

REDEMPTIONS = Counter(
    "realtime_ticket_redemptions",
    "WebSocket ticket redemptions, by outcome.",
    ["outcome"],
)
REDEMPTION_OUTCOMES = ("redeemed", "unknown", "malformed", "revoked", "unavailable")
for outcome in REDEMPTION_OUTCOMES:
    REDEMPTIONS.labels(outcome)  # exported at 0 from the start, not from its first count


class RedisTicketStore:
    """Tickets on the Redis of Django's RedisCache, under the cache's own key names, through the
    process's shared connection (realtime.redis_client: Django's RedisCache would connect anew
    for every request)."""

    async def put(self, key: str, claims: dict) -> None:
        await (await cache_redis()).execute(*self.set_command(key, claims))

    async def put_within_rate(self, key: str, claims: dict, rate: "Rate") -> bool:
        # One round trip: count the request and store the ticket. A ticket stored for a request
        # over the rate was never handed out; it is deleted again.
        rate_name = cache.make_and_validate_key(rate.key)
        redis = await cache_redis()
        requests, _, _ = await redis.execute_many(
            ("INCR", rate_name), ("EXPIRE", rate_name, rate.period), self.set_command(key, claims)
        )
        if requests <= rate.allowed:
            return True
        await redis.execute("DEL", cache.make_and_validate_key(key))
        return False

    async def take(self, key: str) -> dict | None:
        # cache_key (make_key), not make_and_validate_key: the ticket matched TICKET_PATTERN, so
        # the key has nothing to warn about, and checking it character by character costs every
        # handshake.
        value = await (await cache_redis()).execute("GETDEL", cache_key(key))
        return None if value is None else json.loads(value)

    @staticmethod
    def set_command(key: str, claims: dict) -> tuple:
        name = cache.make_and_validate_key(key)
        return ("SET", name, json.dumps(claims), "EX", settings.WS_TICKET_TTL)


class CacheTicketStore:
    """Tickets in any other Django cache (the local-memory one in development), through its
    async API."""

    async def put(self, key: str, claims: dict) -> None:
        await cache.aset(key, claims, timeout=settings.WS_TICKET_TTL)

    async def put_within_rate(self, key: str, claims: dict, rate: "Rate") -> bool:
        await cache.aadd(rate.key, 0, timeout=rate.period)
        if await cache.aincr(rate.key) > rate.allowed:
            return False
        await self.put(key, claims)
        return True

    async def take(self, key: str) -> dict | None:
        # Of all the callers that read the value, only the one whose delete removed the key
        # gets it.
        value = await cache.aget(key)
        return value if value is not None and await cache.adelete(key) else None


REDIS_TICKET_STORE = RedisTicketStore()
CACHE_TICKET_STORE = CacheTicketStore()


def ticket_store() -> RedisTicketStore | CacheTicketStore:
    """The store for the default cache as configured now."""
    return REDIS_TICKET_STORE if uses_redis() else CACHE_TICKET_STORE


class Rate:
    """One user's ticket requests in the current fixed window of WS_TICKET_THROTTLE_RATE
    (DRF's "N/period" format), counted in the shared cache so that the limit holds across
    processes."""

    def __init__(self, user):
        self.allowed, self.period = ScopedRateThrottle().parse_rate(
            settings.WS_TICKET_THROTTLE_RATE
        )
        now = time.time()
        window = int(now // self.period)
        self.key = f"{RATE_KEY_PREFIX}{user._meta.pk.value_to_string(user)}:{window}"
        # Seconds until the next window opens.
        self.wait = max(1, math.ceil((window + 1) * self.period - now))


def new_ticket(user, token_expires_at: int | None, session_id: str | None) -> tuple[str, str, dict]:
    """A fresh ticket for `user`: (ticket, store key, claims to store under it).

    The claims name the sign-in session and the password the ticket was bought under, so that
    redeeming it is refused once either is revoked, as the access token that bought it is.
    """
    ticket = secrets.token_urlsafe(32)
    claims = {
        # As simplejwt's tokens name the user: USER_ID_FIELD, as text (JSON-safe for any type).
        "user": str(getattr(user, api_settings.USER_ID_FIELD)),
        "token_expires_at": token_expires_at,
        "sid": session_id,
        "revoke": revoke_claim_of(user),
    }
    return ticket, KEY_PREFIX + ticket, claims


async def issue_ticket(
    user, token_expires_at: int | None = None, session_id: str | None = None
) -> str:
    """Store a new ticket for `user` (of `session_id`, or of no session) and return it."""
    ticket, key, claims = new_ticket(user, token_expires_at, session_id)
    await ticket_store().put(key, claims)
    return ticket


async def issue_ticket_within_rate(auth: Authentication) -> tuple[str | None, int]:
    """Count one request for a ticket by `auth`'s user: (a new ticket for that credential, 0)
    if it is within WS_TICKET_THROTTLE_RATE, else (None, how many seconds until the next
    request is)."""
    user = auth.user
    ticket, key, claims = new_ticket(user, auth.expires_at, auth.session_id)
    rate = Rate(user)
    if await ticket_store().put_within_rate(key, claims, rate):
        return ticket, 0
    return None, rate.wait


async def redeem_ticket(ticket: str) -> Authentication | None:
    """Consume `ticket`: who it was for, until when the access token it was bought with is valid.

    None if it is unknown, used, or expired.
    Also None when, since the ticket was issued, the user has been deleted or deactivated, has
    changed password, or its session has ended (realtime.sign_ins.check_user).
    """
    # What cannot be a ticket is never looked up (nor turned into a cache key).
    if not TICKET_PATTERN.fullmatch(ticket):
        REDEMPTIONS.labels("malformed").inc()
        return None
    try:
        claims = await ticket_store().take(KEY_PREFIX + ticket)
    except REDIS_UNAVAILABLE:
        REDEMPTIONS.labels("unavailable").inc()
        raise
    if claims is None:
        REDEMPTIONS.labels("unknown").inc()
        return None
    # The user's id as the ticket stores it (text): the database converts it on a lookup, and
    # the memo's key stays the same for every ticket of the user's session.
    user_pk, session_id, revoke = claims["user"], claims.get("sid"), claims.get("revoke")
    key = ("user", user_pk, session_id, revoke)
    user = await recent_answers.get(key, lambda: standing_user(user_pk, session_id, revoke))
    if user is None:
        REDEMPTIONS.labels("revoked").inc()
        return None
    REDEMPTIONS.labels("redeemed").inc()
    return Authentication(user=user, expires_at=claims["token_expires_at"], session_id=session_id)


@database_sync_to_async
def standing_user(user_pk, session_id, revoke):
    """The user if the ticket's credential still stands (realtime.sign_ins.check_user), else None.

    Channels' wrapper closes stale database connections.
    """
    try:
        return check_user(user_pk, session_id, revoke)
    except AuthenticationFailed:
        return None
