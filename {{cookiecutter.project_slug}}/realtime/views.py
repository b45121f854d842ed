"""The token endpoints: simplejwt's views, throttled, with responses that no cache may store.

A response carrying tokens, or refusing them, is for its one client: `Cache-Control: no-store`
keeps it out of browser and proxy caches.
"""

import logging

from asgiref.sync import async_to_sync
from rest_framework import status
from rest_framework.response import Response
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import (
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
)

from realtime.redis_outages import REDIS_UNAVAILABLE, RETRY_AFTER_SECONDS
from realtime.revocation import revoke_sessions
from realtime.throttles import SIGN_IN_THROTTLES, TokenRefreshAddressThrottle

logger = logging.getLogger(__name__)


class NoStoreMixin:
    """Every response of the view, refusals included, carries `Cache-Control: no-store`."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response


class SignInView(NoStoreMixin, TokenObtainPairView):
    """`POST /api/token/` with username and password: a token pair; throttled per username and
    per client address (realtime.throttles), 429 with Retry-After."""

    throttle_classes = SIGN_IN_THROTTLES


class RefreshView(NoStoreMixin, TokenRefreshView):
    """`POST /api/token/refresh/`: a new access token and a new refresh token; the refresh token
    sent is blacklisted (SIMPLE_JWT's ROTATE_REFRESH_TOKENS, BLACKLIST_AFTER_ROTATION), so a
    stolen one works once at most. Throttled per client address."""

    throttle_classes = (TokenRefreshAddressThrottle,)


class LogoutView(NoStoreMixin, TokenBlacklistView):
    """`POST /api/logout/` with `{"refresh": "..."}`: blacklist it, and close the user's sockets.

    simplejwt's blacklist view checks and blacklists the refresh token (401 if it is invalid or
    already blacklisted); holding the refresh token is the proof of identity. Access tokens stay
    valid until they expire, as everywhere with stateless JWTs: keep them short-lived.

    The blacklist is written first, in the database. When the channel layer cannot broadcast the
    revocation within CHANNEL_LAYER_TIMEOUT (Redis down or not answering), the answer is 503 with
    Retry-After, whose detail says that the refresh token is revoked but live sockets may stay open
    until their access tokens expire: the logout did not do all it promises, so it does not answer
    200. Sending the same refresh token again gets 401 (it is blacklisted already).
    """

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        # Verified and blacklisted just above: read its user without checking it again.
        refresh = RefreshToken(request.data["refresh"], verify=False)
        try:
            async_to_sync(revoke_sessions)(refresh[api_settings.USER_ID_CLAIM])
        except REDIS_UNAVAILABLE as error:
            logger.warning("Redis unavailable, logout could not close live sockets: %s", error)
            detail = (
                "The refresh token is revoked, but live sockets could not be closed now; they "
                "close when their access tokens expire."
            )
            return Response(
                {"detail": detail, "code": "sockets_not_closed"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return response
