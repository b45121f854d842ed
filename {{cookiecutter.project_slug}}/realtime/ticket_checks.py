"""System checks of the ticket settings (this module exists in the ticket mode only)."""

from datetime import timedelta

from django.conf import settings
from django.core import checks
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.throttling import ScopedRateThrottle

from realtime.ticket_endpoint import NOT_NEEDED_MIDDLEWARE, POLICY_MIDDLEWARE


@checks.register(checks.Tags.caches)
def check_tickets_are_shared(app_configs, **kwargs):
    """realtime.W001: with DEBUG off, tickets must live in a cache that all workers share.

    A ticket is issued by whichever worker serves `POST /api/ws-ticket/` and redeemed by whichever
    serves the handshake: with the local-memory cache, which each process keeps to itself, most
    handshakes of a multi-process deployment would be refused. Caches on shared storage (Redis,
    Memcached, the database, files) are fine. With DEBUG on, one process is the norm.
    """
    if settings.DEBUG or not isinstance(caches["default"], LocMemCache):
        return []
    return [
        checks.Warning(
            "WebSocket tickets are kept in a per-process cache (LocMemCache): a ticket issued by "
            "one worker process cannot be redeemed by another.",
            hint="Set REDIS_URL. If exactly one process serves the site, add "
            '"realtime.W001" to SILENCED_SYSTEM_CHECKS in config/settings.py.',
            id="realtime.W001",
        )
    ]


@checks.register()
def check_ticket_throttle_rate(app_configs, **kwargs):
    """realtime.E001: WS_TICKET_THROTTLE_RATE must be a rate DRF can read ("60/min")."""
    rate = settings.WS_TICKET_THROTTLE_RATE
    try:
        allowed, _ = ScopedRateThrottle().parse_rate(rate)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        allowed = None
    if allowed is not None and allowed > 0:
        return []
    return [
        checks.Error(
            f"WS_TICKET_THROTTLE_RATE is {rate!r}, not a rate of tickets per user.",
            hint='Write it as N/s, N/min, N/hour or N/day with N >= 1, for example "60/min".',
            id="realtime.E001",
        )
    ]


@checks.register(checks.Tags.security)
def check_ticket_endpoint_middleware(app_configs, **kwargs):
    """realtime.W005: settings.MIDDLEWARE lists middleware that the ticket endpoint does not run.

    `POST /api/ws-ticket/` is served ahead of Django's handler and runs only the middleware in
    realtime.ticket_endpoint.POLICY_MIDDLEWARE; the rest of Django's default list has nothing to
    do there (NOT_NEEDED_MIDDLEWARE). Middleware added since, a rate limit or an IP allow-list
    say, would not apply to it without a word.
    """
    skipped = [
        name
        for name in settings.MIDDLEWARE
        if name not in POLICY_MIDDLEWARE and name not in NOT_NEEDED_MIDDLEWARE
    ]
    return [
        checks.Warning(
            f"{name} does not run on POST /api/ws-ticket/, which is served ahead of Django's "
            "middleware.",
            hint="If it does no I/O, add it to POLICY_MIDDLEWARE in realtime/ticket_endpoint.py; "
            "if it has nothing to do on that endpoint, to NOT_NEEDED_MIDDLEWARE.",
            obj=name,
            id="realtime.W005",
        )
        for name in skipped
    ]


@checks.register()
def check_ticket_ttl(app_configs, **kwargs):
    """realtime.E002: WS_TICKET_TTL must be a whole number of seconds, at least 1.
    realtime.W002: a ticket should not outlive the access token that bought it.

    The TTL is the ticket's expiry in the cache: at 0 or below, Redis refuses to store it and
    every ticket request fails.
    """
    ttl = settings.WS_TICKET_TTL
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
        return [
            checks.Error(
                f"WS_TICKET_TTL is {ttl!r}: a ticket must live at least 1 second.",
                hint="Set WS_TICKET_TTL to a whole number of seconds, for example 30.",
                id="realtime.E002",
            )
        ]
    lifetime = settings.SIMPLE_JWT.get("ACCESS_TOKEN_LIFETIME")
    if isinstance(lifetime, timedelta) and ttl > lifetime.total_seconds():
        return [
            checks.Warning(
                f"WS_TICKET_TTL ({ttl} s) is longer than the access-token lifetime "
                f"({lifetime.total_seconds():g} s): a ticket would outlive the token it "
                "stands for.",
                hint="A ticket is redeemed right after it is bought: a few seconds to a minute.",
                id="realtime.W002",
            )
        ]
    return []
