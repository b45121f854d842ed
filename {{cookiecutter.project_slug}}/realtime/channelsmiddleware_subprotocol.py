"""WebSocket authentication by an access JWT offered as a subprotocol, in no URL.

The client offers two subprotocols: the application's, and the token behind `access_token.`:

    new WebSocket("wss://example.com/ws/chat/lobby/", ["chat.v1", "access_token." + access])

which sends `Sec-WebSocket-Protocol: chat.v1, access_token.<jwt>`. A JWT is base64url text and
dots, all valid in that header. Servers and proxies do not log request headers by default, and
URLs stay clean, so the token lands in no access log and no browser history, and connecting
takes no extra HTTP request. The consumer accepts with the application subprotocol only (a
browser fails the handshake unless the server picks one it offered) and never echoes the token.

The token is validated by simplejwt's own machinery (realtime.access_tokens), exactly as on the
REST API, and only access tokens are accepted.
"""

from realtime.access_tokens import authenticate_access_token
from realtime.handshake import SubprotocolCredentialAuthMiddleware


class SubprotocolJWTAuthMiddleware(SubprotocolCredentialAuthMiddleware):
    """Puts the user of a valid `access_token.<jwt>` in scope["user"]; refuses everything else."""

    async def authenticate(self, credential):
        return await authenticate_access_token(credential)
