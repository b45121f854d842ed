"""System checks of the project's security settings, in every auth mode (registered in apps.py).

realtime.E003 (DEBUG off) / realtime.W003 (DEBUG on): the JWT signing key is weak or public.
realtime.E004: a sign-in or refresh rate is not a rate DRF can read.
realtime.E005 / W006: CHAT_PRESENCE_TTL is not a positive number / lets a dead process's users
stay in presence longer than 30 seconds.
"""

import math

from django.conf import settings
from django.core import checks
from rest_framework.throttling import SimpleRateThrottle

from realtime.presence import ghost_bound

RATE_SETTINGS = (
    "SIGN_IN_RATE_PER_USERNAME",
    "SIGN_IN_RATE_PER_ADDRESS",
    "TOKEN_REFRESH_RATE_PER_ADDRESS",
)

# HS256 keys shorter than its 32-byte output weaken it (RFC 7518, section 3.2).
MIN_HMAC_KEY_BYTES = 32
# Keys published in this template or in Django's own, which anyone can sign tokens with.
KNOWN_DEVELOPMENT_KEYS = frozenset(
    {"django-insecure-development-only-key-do-not-use-in-production"}
)
# Django's startproject marks its generated development keys with this prefix.
INSECURE_KEY_PREFIX = "django-insecure"
# The longest a server process that died may leave its users in presence, in seconds.
MAX_PRESENCE_GHOST_SECONDS = 30


def weakness_of(key) -> str | None:
    """Why `key` is unfit to sign HMAC tokens, or None."""
    if not isinstance(key, str | bytes):
        return "it is not a string"
    raw = key.encode() if isinstance(key, str) else key
    if len(raw) < MIN_HMAC_KEY_BYTES:
        return f"it is {len(raw)} bytes long, under {MIN_HMAC_KEY_BYTES}"
    if raw.decode(errors="replace") in KNOWN_DEVELOPMENT_KEYS or raw.startswith(
        INSECURE_KEY_PREFIX.encode()
    ):
        return "it is a published development key"
    return None


@checks.register(checks.Tags.security)
def check_jwt_signing_key(app_configs, **kwargs):
    """realtime.E003 / W003: an HMAC signing key must be 32 bytes or more and not a public one.

    Anyone who knows or guesses the key mints access tokens for any user. An error when DEBUG is
    off, so `check --deploy` and the server's start-up refuse it; a warning in development.
    """
    jwt = getattr(settings, "SIMPLE_JWT", {})
    if not str(jwt.get("ALGORITHM", "HS256")).startswith("HS"):
        return []  # an asymmetric key pair: its strength is the key type's, not a length
    reason = weakness_of(jwt.get("SIGNING_KEY", settings.SECRET_KEY))
    if reason is None:
        return []
    if settings.DEBUG:
        kind, check_id = checks.Warning, "realtime.W003"
    else:
        kind, check_id = checks.Error, "realtime.E003"
    return [
        kind(
            f"The JWT signing key is weak: {reason}. Anyone who can guess it can sign tokens "
            "for any user.",
            hint="Set JWT_SIGNING_KEY (or DJANGO_SECRET_KEY) to a random value, for example "
            'python -c "import secrets; print(secrets.token_urlsafe(50))".',
            id=check_id,
        )
    ]


@checks.register()
def check_sign_in_rates(app_configs, **kwargs):
    """realtime.E004: the sign-in and refresh rates must be rates DRF can read ("10/min")."""
    errors = []
    for name in RATE_SETTINGS:
        rate = getattr(settings, name, None)
        try:
            allowed, _ = SimpleRateThrottle.parse_rate(None, rate)
        except (AttributeError, KeyError, TypeError, ValueError, IndexError):
            allowed = None
        if allowed is None or allowed < 1:
            errors.append(
                checks.Error(
                    f"{name} is {rate!r}, not a rate of requests.",
                    hint='Write it as N/s, N/min, N/hour or N/day with N >= 1, e.g. "10/min".',
                    id="realtime.E004",
                )
            )
    return errors


@checks.register()
def check_presence_ttl(app_configs, **kwargs):
    """realtime.E005: CHAT_PRESENCE_TTL must be a positive, finite number of seconds.
    realtime.W006: the users of a process that dies must leave presence within 30 seconds.

    A dead process runs no disconnect handler: its users stay in presence until their entries
    expire, at most realtime.presence.ghost_bound(CHAT_PRESENCE_TTL) seconds (TTL * 4/3). With
    CHAT_PRESENCE off, nothing is tracked and nothing is checked.
    """
    if not settings.CHAT_PRESENCE:
        return []
    ttl = settings.CHAT_PRESENCE_TTL
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < math.inf:
        return [
            checks.Error(
                f"CHAT_PRESENCE_TTL is {ttl!r}, not a positive number of seconds.",
                hint="Set CHAT_PRESENCE_TTL to the seconds a presence entry lives unrenewed, "
                "for example 20.",
                id="realtime.E005",
            )
        ]
    bound = ghost_bound(ttl)
    if bound > MAX_PRESENCE_GHOST_SECONDS:
        longest_ttl = MAX_PRESENCE_GHOST_SECONDS / ghost_bound(1)
        return [
            checks.Warning(
                f"CHAT_PRESENCE_TTL is {ttl:g} s: a server process that dies leaves its users "
                f"online for up to {bound:g} s, over {MAX_PRESENCE_GHOST_SECONDS} s.",
                hint=f"Set CHAT_PRESENCE_TTL to {longest_ttl:g} or less (20 by default); "
                "each process renews its entries every third of it.",
                id="realtime.W006",
            )
        ]
    return []
