{%- set auth_middleware = {
    "ticket": "TicketAuthMiddleware",
    "query_jwt": "QueryStringJWTAuthMiddleware",
    "subprotocol": "SubprotocolJWTAuthMiddleware",
}[cookiecutter.auth_mode] -%}
"""ASGI entry point: Django for HTTP; for WebSockets, origin check, then auth, then the URL router.

Serve it with `uvicorn config.asgi:application` (or `manage.py runserver`, through daphne).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Load Django (apps, models) before anything below imports them.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from realtime.channelsmiddleware import {{ auth_middleware }}  # noqa: E402
from realtime.handshake import AllowedHostsOriginValidator  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            {{ auth_middleware }}(URLRouter(websocket_urlpatterns))
        ),
    }
)
