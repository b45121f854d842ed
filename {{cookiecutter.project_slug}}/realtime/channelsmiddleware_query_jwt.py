"""WebSocket authentication by an access JWT in the query string: `/ws/chat/lobby/?token=<access>`.

The token is validated by simplejwt's own machinery (realtime.access_tokens), so SIMPLE_JWT
applies exactly as on the REST API, and only access tokens are accepted. The URL, token included,
may end up in proxy logs and browser history: keep access tokens short-lived, or bake the project
with the ticket mode instead.
"""

from realtime.access_tokens import authenticate_access_token
from realtime.handshake import QueryCredentialAuthMiddleware


class QueryStringJWTAuthMiddleware(QueryCredentialAuthMiddleware):
    """Puts the user of a valid `?token=` access JWT in scope["user"]; refuses everything else."""

    query_param = "token"

    async def authenticate(self, credential):
        return await authenticate_access_token(credential)
