"""Rate limits on signing in and on refreshing tokens, counted in the default cache.

Every sign-in costs a password hash (PBKDF2: about a quarter of a second of CPU), and an
unlimited one lets anyone guess passwords as fast as the server hashes them. Sign-ins, at
`/api/token/` and at the admin's login page alike, are counted per username and per client
address; refreshes per client address. A refused request gets 429 with Retry-After. With
REDIS_URL set, the counts are shared by every process; while Redis is unreachable they are not
kept, and signing in and refreshing work unthrottled (issuing a JWT needs no Redis), with a
warning per request (limited, as every warning, by realtime.log_limits).

The client address is the connection's (REMOTE_ADDR, with REST_FRAMEWORK's NUM_PROXIES at 0):
behind a proxy, the ASGI server replaces it with the forwarded one only for trusted proxies
(uvicorn's --forwarded-allow-ips), so a client cannot pick its own with X-Forwarded-For.
"""

import hashlib
import logging
import math

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import JsonResponse
from rest_framework.throttling import SimpleRateThrottle

from realtime.redis_outages import REDIS_UNAVAILABLE

logger = logging.getLogger(__name__)


class SettingRateThrottle(SimpleRateThrottle):
    """A SimpleRateThrottle whose rate is the Django setting named `rate_setting`, read for every
    request ("N/s", "N/min", "N/hour" or "N/day")."""

    rate_setting = ""

    def get_rate(self):
        return getattr(settings, self.rate_setting)

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except REDIS_UNAVAILABLE as outage:
            logger.warning("Redis unavailable, %s not counted: %s", self.scope, outage)
            return True


class AddressThrottle(SettingRateThrottle):
    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class SignInAddressThrottle(AddressThrottle):
    """Sign-in attempts from one client address."""

    scope = "sign_in_address"
    rate_setting = "SIGN_IN_RATE_PER_ADDRESS"


class SignInUsernameThrottle(SettingRateThrottle):
    """Sign-in attempts for one username, from anywhere: guessing one user's password from many
    addresses is as slow as from one."""

    scope = "sign_in_username"
    rate_setting = "SIGN_IN_RATE_PER_USERNAME"

    def get_cache_key(self, request, view):
        username = submitted_username(request)
        if username is None:
            return None  # nothing to sign in as: the serializer refuses it (400)
        # Hashed: a fixed-size key of safe characters, and no usernames in the cache.
        ident = hashlib.sha256(username.casefold().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class TokenRefreshAddressThrottle(AddressThrottle):
    """Refreshes from one client address."""

    scope = "token_refresh"
    rate_setting = "TOKEN_REFRESH_RATE_PER_ADDRESS"


SIGN_IN_THROTTLES = (SignInAddressThrottle, SignInUsernameThrottle)


def submitted_username(request) -> str | None:
    """The username a sign-in request names: the USERNAME_FIELD of a DRF request's data, or the
    `username` field of a Django form post (the admin's login page)."""
    if hasattr(request, "data"):
        data, field = request.data, get_user_model().USERNAME_FIELD
    else:
        data, field = request.POST, "username"
    value = data.get(field) if hasattr(data, "get") else None
    return value if isinstance(value, str) and value else None


def refusal(request, throttle_classes=SIGN_IN_THROTTLES):
    """A 429 response with Retry-After if any of the throttles refuses `request`, else None.

    For Django views; DRF views list the classes in `throttle_classes` instead.
    """
    waits = []
    for throttle in (cls() for cls in throttle_classes):
        if not throttle.allow_request(request, None):
            waits.append(throttle.wait() or 1)
    if not waits:
        return None
    wait = math.ceil(max(waits))
    response = JsonResponse(
        {"detail": f"Too many attempts; try again in {wait} s.", "code": "throttled"}, status=429
    )
    response["Retry-After"] = str(wait)
    return response
