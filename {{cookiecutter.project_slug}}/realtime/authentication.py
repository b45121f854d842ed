"""WebSocket authentication at the handshake: find the one credential, check it, or refuse.

`AuthMiddleware` is composed of two parts, as Starlette's AuthenticationMiddleware is of a
backend, and realtime/channelsmiddleware.py composes the project's:
- a `CredentialSource` (realtime.credentials): where the handshake carries its credential (a
  query parameter, or a bearer subprotocol);
- an authenticator: an async function from the credential to an `Authentication`, or None
  (realtime.tickets.redeem_ticket, realtime.access_tokens.authenticate_access_token).

A handshake without a credential that checks out is refused with HTTP 403 before the consumer
runs, without touching the channel layer; so is one whose credential cannot be checked because
Redis is unreachable.
"""

import logging
from collections.abc import Awaitable, Callable

from channels.middleware import BaseMiddleware
from channels.security.websocket import WebsocketDenier

from realtime.credentials import Authentication, CredentialSource
from realtime.redis_outages import REDIS_UNAVAILABLE

logger = logging.getLogger(__name__)


class HandshakeDenier(WebsocketDenier):
    """Channels' denier minus the channel layer: a refusal costs no I/O, works with Redis down."""

    channel_layer_alias = None


deny_handshake = HandshakeDenier.as_asgi()


Authenticator = Callable[[str], Awaitable[Authentication | None]]


class AuthMiddleware(BaseMiddleware):
    """Authenticate a WebSocket by the one credential its handshake carries, or refuse it.

    The user goes in scope["user"], the credential's expiry in scope["auth_expires_at"] (which
    the consumer enforces on the open socket) and its session in scope["auth_session"]; the
    inner application only ever sees authenticated connections.
    """

    def __init__(self, inner, *, credential: CredentialSource, authenticate: Authenticator):
        super().__init__(inner)
        self.credential = credential
        self.authenticate = authenticate

    async def __call__(self, scope, receive, send):
        authenticated = await self.authenticated_scope(scope)
        if authenticated is None:
            return await deny_handshake(scope, receive, send)
        # A copy already: not BaseMiddleware.__call__, which would copy it again.
        return await self.inner(authenticated, receive, send)

    async def authenticated_scope(self, scope) -> dict | None:
        """A copy of `scope` with the user, expiry and session of the handshake's credential, or
        None when it has none that checks out (or Redis is unreachable to check it).

        A coroutine of its own, ended before the socket opens. Measured reason: as locals of
        __call__, whose frame lives as long as the socket, the credential and its parsed query
        stayed in memory (0.45 KiB per idle socket in the query_jwt mode, by tracemalloc).
        """
        credential = self.credential.find(scope)
        try:
            auth = await self.authenticate(credential) if credential is not None else None
        except REDIS_UNAVAILABLE as error:
            # The path only: the query string may hold the credential.
            logger.warning("Redis unavailable, refused a handshake to %s: %s", scope["path"], error)
            auth = None
        if auth is None:
            return None
        return {
            **scope,
            "user": auth.user,
            "auth_expires_at": auth.expires_at,
            "auth_session": auth.session_id,
        }
