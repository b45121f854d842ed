"""WebSocket authentication by an access JWT in the query string: `/ws/chat/lobby/?token=<access>`.

The token is validated by simplejwt's own machinery, so SIMPLE_JWT (signing key, algorithm,
audience, issuer, leeway, AUTH_TOKEN_CLASSES) applies exactly as on the REST API, and only access
tokens are accepted. The URL, token included, may end up in proxy logs and browser history: keep
access tokens short-lived, or bake the project with the ticket mode instead.
"""

from channels.db import database_sync_to_async
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from realtime.handshake import QueryCredentialAuthMiddleware

# Far above any token simplejwt issues; anything longer is refused without decoding it.
MAX_TOKEN_LENGTH = 4096


class QueryStringJWTAuthMiddleware(QueryCredentialAuthMiddleware):
    """Puts the user of a valid `?token=` access JWT in scope["user"]; refuses everything else."""

    query_param = "token"
    jwt_authentication = JWTAuthentication()

    async def authenticate(self, credential):
        if len(credential) > MAX_TOKEN_LENGTH:
            return None
        try:
            # Signature and claims only: no I/O, so it runs on the event loop.
            validated_token = self.jwt_authentication.get_validated_token(credential)
        except InvalidToken:
            return None
        return await self.get_active_user(validated_token)

    @database_sync_to_async
    def get_active_user(self, validated_token):
        """The token's user if it still exists and is active (simplejwt's own rules), else None."""
        try:
            return self.jwt_authentication.get_user(validated_token)
        except (InvalidToken, AuthenticationFailed):
            return None
