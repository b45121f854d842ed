"""The project's own REST endpoints (simplejwt provides the token and refresh views)."""

from asgiref.sync import async_to_sync
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenBlacklistView

from realtime.revocation import revoke_sessions


class LogoutView(TokenBlacklistView):
    """`POST /api/logout/` with `{"refresh": "..."}`: blacklist it, and close the user's sockets.

    simplejwt's blacklist view checks and blacklists the refresh token (401 if it is invalid or
    already blacklisted); holding the refresh token is the proof of identity. Access tokens stay
    valid until they expire, as everywhere with stateless JWTs: keep them short-lived.
    """

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        # Verified and blacklisted just above: read its user without checking it again.
        refresh = RefreshToken(request.data["refresh"], verify=False)
        async_to_sync(revoke_sessions)(refresh[api_settings.USER_ID_CLAIM])
        return response
