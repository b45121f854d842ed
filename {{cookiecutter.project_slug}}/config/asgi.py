{%- set ticket = cookiecutter.auth_mode == "ticket" -%}
{%- set auth_middleware = {
    "ticket": "TicketAuthMiddleware",
    "query_jwt": "QueryStringJWTAuthMiddleware",
    "subprotocol": "SubprotocolJWTAuthMiddleware",
}[cookiecutter.auth_mode] -%}
"""ASGI entry point: /healthz and /readyz (realtime/health.py), then Django for HTTP; for
WebSockets, the TLS check (no plain ws:// where HTTP is redirected to HTTPS), origin check, then
auth, then the URL router.
{%- if ticket %}

The URL of config/urls.py's "ws_ticket" is the exception on HTTP: every connect buys a ticket
first, so it is served on the event loop, ahead of Django's handler, inside the project's HTTP
policy middleware (realtime/ticket_endpoint.py).
{%- endif %}

Serve it with `uvicorn config.asgi:application` (or `manage.py runserver`, through daphne).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Load Django (apps, models) before anything below imports them.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
{%- if ticket %}
from django.urls import path, re_path, reverse  # noqa: E402
{%- endif %}

from realtime.channelsmiddleware import {{ auth_middleware }}  # noqa: E402
from realtime.health import HealthEndpoints  # noqa: E402
from realtime.metrics import WebSocketMetrics, refused_by  # noqa: E402
from realtime.origins import OriginPolicyMiddleware  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402
{%- if ticket %}
from realtime.ticket_endpoint import TicketEndpoint  # noqa: E402
{%- endif %}
from realtime.transport_security import SecureWebSocketMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
{%- if ticket %}
        "http": HealthEndpoints(
            URLRouter(
                [
                    # The URL as config/urls.py routes it; the router matches paths without "/".
                    path(reverse("ws_ticket").removeprefix("/"), TicketEndpoint.as_asgi()),
                    re_path(r"", django_asgi_app),
                ]
            )
        ),
{%- else %}
        "http": HealthEndpoints(django_asgi_app),
{%- endif %}
        # refused_by marks each check, so that realtime.metrics counts refusals by the check.
        "websocket": WebSocketMetrics(
            SecureWebSocketMiddleware(
                refused_by(
                    "origin",
                    OriginPolicyMiddleware(
                        refused_by(
                            "credential",
                            {{ auth_middleware }}(
                                refused_by("application", URLRouter(websocket_urlpatterns))
                            ),
                        ),
                    ),
                ),
            ),
        ),
    }
)
