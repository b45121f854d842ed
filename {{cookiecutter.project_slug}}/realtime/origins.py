"""The WebSocket origin policy: which pages may open a socket with a user's credential."""

from channels.security.websocket import OriginValidator
from django.conf import settings


class OriginPolicyMiddleware(OriginValidator):
    """Refuses (HTTP 403) a handshake whose Origin is not one of ALLOWED_HOSTS, read per handshake.

    Browsers send Origin on every WebSocket handshake, and a cross-site page cannot remove it, so
    checking it stops cross-site WebSocket hijacking. Clients that are not browsers usually send
    none; unlike Channels' AllowedHostsOriginValidator, a missing Origin is allowed unless
    WS_ALLOW_MISSING_ORIGIN is off. With DEBUG on and ALLOWED_HOSTS empty, the loopback names are
    allowed, as Django allows them for HTTP.
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
