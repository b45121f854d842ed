{%- set middleware, source, module, authenticator, where = {
    "ticket": (
        "TicketAuthMiddleware", "QUERY_TICKET", "realtime.tickets", "redeem_ticket",
        "a one-time ticket in the query string:\n`/ws/chat/lobby/?ticket=<ticket>`",
    ),
    "query_jwt": (
        "QueryStringJWTAuthMiddleware", "QUERY_TOKEN", "realtime.access_tokens",
        "authenticate_access_token",
        "an access JWT in the query string:\n`/ws/chat/lobby/?token=<access>`",
    ),
    "subprotocol": (
        "SubprotocolJWTAuthMiddleware", "BEARER_SUBPROTOCOL", "realtime.access_tokens",
        "authenticate_access_token",
        "an access JWT offered as a subprotocol:\n`Sec-WebSocket-Protocol: chat.v1, access_token.<access>`",
    ),
}[cookiecutter.auth_mode] -%}
"""This project's WebSocket authentication, as config/asgi.py installs it.

Clients authenticate with {{ where }}.
It is composed of where that credential is (realtime.credentials) and what checks it
({{ module }}). What this mode protects against, and what it does not: README.md,
"How WebSockets are authenticated".
"""
{% if module < "realtime.authentication" %}
from {{ module }} import {{ authenticator }}
{%- endif %}
from realtime.authentication import AuthMiddleware
from realtime.credentials import {{ source }}
{%- if module > "realtime.credentials" %}
from {{ module }} import {{ authenticator }}
{%- endif %}


class {{ middleware }}(AuthMiddleware):
    """Puts the credential's user in scope["user"]; refuses every other handshake with 403."""

    def __init__(self, inner):
        super().__init__(
            inner,
            credential={{ source }},
            authenticate={{ authenticator }},
        )
