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
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenViewBase

from realtime.redis_outages import REDIS_UNAVAILABLE, RETRY_AFTER_SECONDS
from realtime.revocation import revoke_sessions
from realtime.sign_ins import SESSION_CLAIM
from realtime.throttles import SIGN_IN_THROTTLES, TokenRefreshAddressThrottle

logger = logging.getLogger(__name__)


class NoStoreMixin:
    """Every response of the view, refusals included, carries `Cache-Control: no-store`."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response


class SignInView(NoStoreMixin, TokenObtainPairView):
    """`POST /api/token/` with username and password: a token pair of a new session (its `sid`
    claim, realtime.sign_ins); throttled per username and per client address
    (realtime.throttles), 429 with Retry-After."""

    throttle_classes = SIGN_IN_THROTTLES


class RefreshView(NoStoreMixin, TokenRefreshView):
    """`POST /api/token/refresh/`: a new access token and a new refresh token; the refresh token
    sent is blacklisted (SIMPLE_JWT's ROTATE_REFRESH_TOKENS, BLACKLIST_AFTER_ROTATION), so a
    stolen one works once at most. Both stay in the session; a refresh token whose session has
    ended, or issued before a password change, is refused (realtime.sign_ins.RefreshSerializer).
    Throttled per client address."""

    throttle_classes = (TokenRefreshAddressThrottle,)


class RevokingView(NoStoreMixin, TokenViewBase):
    # sockets_to_close(request, response): (user id, session id or None for all the user's
    # sessions) whose live sockets to close, or None for none.
    """A view whose serializer revokes credentials in the database, after which the sockets
    they opened are closed (realtime.revocation).

    The revocation is written first. When the channel layer cannot broadcast it within
    CHANNEL_LAYER_TIMEOUT (Redis down or not answering), the answer is 503 with Retry-After,
    whose detail says that the tokens are revoked but live sockets may stay open until their
    access tokens expire: the view did not do all it promises, so it does not answer 200.
    """

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        sockets = self.sockets_to_close(request, response)
        if sockets is None:
            return response
        try:
            async_to_sync(revoke_sessions)(*sockets)
        except REDIS_UNAVAILABLE as error:
            logger.warning("Redis unavailable, logout could not close live sockets: %s", error)
            detail = (
                "The tokens are revoked, but live sockets could not be closed now; they close "
                "when their access tokens expire."
            )
            return Response(
                {"detail": detail, "code": "sockets_not_closed"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return response


class LogoutView(RevokingView):
    """`POST /api/logout/` with `{"refresh": "..."}`: end that refresh token's session.

    simplejwt's blacklist view checks and blacklists the refresh token (401 if it is invalid or
    already blacklisted); holding the refresh token is the proof of identity. Its session ends
    (realtime.sign_ins.LogoutSerializer): every token of the session, access tokens and tickets
    included, is refused from then on, and its live sockets close. The user's other sessions
    (other devices) are untouched. Sending the same refresh token again gets 401.
    """

    _serializer_class = api_settings.TOKEN_BLACKLIST_SERIALIZER

    def sockets_to_close(self, request, response):
        # Verified and blacklisted just above: read its claims without checking it again.
        refresh = RefreshToken(request.data["refresh"], verify=False)
        session_id = refresh.get(SESSION_CLAIM)
        if session_id is None:
            return None  # a refresh token minted by code, of no session: no sockets are its own
        return (refresh[api_settings.USER_ID_CLAIM], session_id)


class LogoutEverywhereView(RevokingView):
    """`POST /api/logout/all/` with `{"refresh": "..."}`: end every session of its user.

    The refresh token (valid, not blacklisted, of a live session) is the proof of identity, as
    for logout: an access token, which travels more (query strings in the query_jwt mode), cannot
    sign a user out everywhere. Every session of the user ends, every refresh token of theirs is
    blacklisted, and every socket of theirs closes; 401 for a refresh token that does not stand.
    """

    _serializer_class = "realtime.sign_ins.LogoutEverywhereSerializer"

    def sockets_to_close(self, request, response):
        return (response.data.pop("user_id"), None)
