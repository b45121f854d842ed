"""The parts of a WebSocket handshake that every auth mode shares.

- the origin policy: an Origin header must name an allowed host; a missing one is allowed
  (non-browser clients) unless WS_ALLOW_MISSING_ORIGIN is off;
- reading one credential from the query string or the subprotocol list, strictly;
- refusing the handshake (HTTP 403) without touching the channel layer, also when the
  credential cannot be checked because Redis is unreachable.
"""

import logging
from dataclasses import dataclass
from urllib.parse import parse_qsl

from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings

from realtime.exceptions import REDIS_UNAVAILABLE

logger = logging.getLogger(__name__)

# Every credential parameter any mode knows. A handshake that carries one the baked mode does not
# use is refused, so a misconfigured client fails loudly instead of leaking a token into URLs.
CREDENTIAL_PARAMS = ("token", "ticket")
# An access JWT offered as a subprotocol (a bearer subprotocol, as Kubernetes calls it):
# `Sec-WebSocket-Protocol: chat.v1, access_token.<jwt>`.
BEARER_SUBPROTOCOL_PREFIX = "access_token."

# Longer query strings or more parameters than this are refused before parsing.
MAX_QUERY_STRING_BYTES = 8192
MAX_QUERY_PARAMS = 16


class HandshakeDenier(WebsocketDenier):
    """Channels' denier minus the channel layer: a refusal costs no I/O, works with Redis down."""

    channel_layer_alias = None


deny_handshake = HandshakeDenier.as_asgi()


class AllowedHostsOriginValidator(OriginValidator):
    """Channels' Origin check on ALLOWED_HOSTS (read per handshake), plus a missing-Origin policy.

    Browsers send Origin on every WebSocket handshake, and a cross-site page cannot remove it, so
    checking it stops cross-site WebSocket hijacking. Clients that are not browsers usually send
    none; they are allowed unless WS_ALLOW_MISSING_ORIGIN is off.
    """

    def __init__(self, application):
        super().__init__(application, allowed_origins=())

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return settings.WS_ALLOW_MISSING_ORIGIN
        return self.validate_origin(parsed_origin)

    def validate_origin(self, parsed_origin):
        allowed_hosts = settings.ALLOWED_HOSTS
        if settings.DEBUG and not allowed_hosts:
            allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
        return any(
            pattern == "*" or self.match_allowed_origin(parsed_origin, pattern)
            for pattern in allowed_hosts
        )


def query_params(scope) -> list[tuple[str, str]] | None:
    """The query string's (name, value) pairs, or None when it is oversized or malformed (not
    ASCII, percent-encoded bytes that are not UTF-8, too many parameters)."""
    raw = scope.get("query_string", b"")
    if len(raw) > MAX_QUERY_STRING_BYTES:
        return None
    try:
        return parse_qsl(
            raw.decode("ascii"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_QUERY_PARAMS,
        )
    except (UnicodeDecodeError, ValueError):
        return None


def subprotocol_tokens(scope) -> list[str]:
    """What follows BEARER_SUBPROTOCOL_PREFIX in each subprotocol the client offered."""
    return [
        protocol.removeprefix(BEARER_SUBPROTOCOL_PREFIX)
        for protocol in scope.get("subprotocols") or ()
        if protocol.startswith(BEARER_SUBPROTOCOL_PREFIX)
    ]


def query_credential(scope, name: str) -> str | None:
    """The value of the one `name` parameter in the query string, or None if it cannot be trusted.

    None when the query string is oversized or malformed, when `name` is absent, empty or repeated,
    or when another mode's credential is present (a parameter, or a token subprotocol).
    """
    pairs = query_params(scope)
    if pairs is None or subprotocol_tokens(scope):
        return None
    values = [value for key, value in pairs if key == name]
    foreign = any(key in CREDENTIAL_PARAMS and key != name for key, _ in pairs)
    if foreign or len(values) != 1 or not values[0]:
        return None
    return values[0]


@dataclass(frozen=True)
class Authentication:
    """Who a credential stands for, and until when (unix seconds; None: no expiry)."""

    user: object
    expires_at: int | None


class CredentialAuthMiddleware(BaseMiddleware):
    """Authenticate a WebSocket by the one credential its handshake carries, or refuse it.

    Subclasses find the credential in the scope and turn it into an Authentication (or None). The
    user goes in scope["user"] and the credential's expiry in scope["auth_expires_at"], which the
    consumer enforces on the open socket; the inner application only ever sees authenticated
    connections. A credential that cannot be checked because Redis is unreachable is refused too.
    """

    def find_credential(self, scope) -> str | None:
        raise NotImplementedError

    async def authenticate(self, credential: str) -> Authentication | None:
        raise NotImplementedError

    async def __call__(self, scope, receive, send):
        credential = self.find_credential(scope)
        try:
            auth = await self.authenticate(credential) if credential is not None else None
        except REDIS_UNAVAILABLE as error:
            # The path only: the query string may hold the credential.
            logger.warning("Redis unavailable, refused a handshake to %s: %s", scope["path"], error)
            auth = None
        if auth is None:
            return await deny_handshake(scope, receive, send)
        scope = {**scope, "user": auth.user, "auth_expires_at": auth.expires_at}
        return await super().__call__(scope, receive, send)


class QueryCredentialAuthMiddleware(CredentialAuthMiddleware):
    """A credential in one query-string parameter, named by the subclass."""

    query_param: str

    def find_credential(self, scope):
        return query_credential(scope, self.query_param)


class SubprotocolCredentialAuthMiddleware(CredentialAuthMiddleware):
    """A credential in one `access_token.<credential>` subprotocol, and none in the query string.

    Browsers cannot set an Authorization header on a WebSocket, but they can offer subprotocols
    (Kubernetes passes its bearer token the same way). The query string must still parse and
    name no credential parameter, so a client that also puts the token in the URL is refused.
    """

    def find_credential(self, scope):
        pairs = query_params(scope)
        if pairs is None or any(key in CREDENTIAL_PARAMS for key, _ in pairs):
            return None
        credentials = subprotocol_tokens(scope)
        if len(credentials) != 1 or not credentials[0]:
            return None
        return credentials[0]
