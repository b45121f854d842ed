"""Plain `ws://` is refused wherever plain HTTP is redirected to HTTPS.

A handshake cannot be redirected, and a credential sent over an unencrypted socket can be read on
the way, so with SECURE_SSL_REDIRECT on, a handshake that did not come over TLS gets HTTP 403.
"Came over TLS" is Django's `request.is_secure()`, applied to the WebSocket scope:
- with SECURE_PROXY_SSL_HEADER set, and that header present, what the header says (only a proxy
  that sets the header itself may be trusted with this setting);
- otherwise the scope's scheme, `wss` when the ASGI server terminated TLS, or when a trusted proxy
  said so (uvicorn's --proxy-headers with --forwarded-allow-ips; daphne's --proxy-headers).
Paths matching SECURE_REDIRECT_EXEMPT are exempt, as they are from the HTTPS redirect.
"""

import re

from asgiref.sync import markcoroutinefunction
from channels.security.websocket import WebsocketDenier
from django.conf import settings

SECURE_SCHEMES = ("wss", "https")


class SecureWebSocketMiddleware:
    """Refuses (HTTP 403) an unencrypted handshake while SECURE_SSL_REDIRECT is on, read per
    handshake."""

    def __init__(self, application):
        self.application = application

    @markcoroutinefunction
    def __call__(self, scope, receive, send):
        # Not a coroutine: it returns the app's, so that an open socket holds no frame of this.
        if settings.SECURE_SSL_REDIRECT and not is_secure(scope) and not is_exempt(scope):
            return WebsocketDenier()(scope, receive, send)
        return self.application(scope, receive, send)


def is_secure(scope) -> bool:
    """Whether the handshake came over TLS, as Django's HttpRequest.is_secure() decides."""
    if proxy_header := getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        meta_name, secure_value = proxy_header
        name = meta_name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
        values = [value for key, value in scope.get("headers", ()) if key.lower() == name]
        if values:
            return values[0].decode("latin-1").split(",", 1)[0].strip() == secure_value
    return scope.get("scheme", "ws") in SECURE_SCHEMES


def is_exempt(scope) -> bool:
    path = scope.get("path", "").lstrip("/")
    return any(re.search(pattern, path) for pattern in settings.SECURE_REDIRECT_EXEMPT)
