"""How tests authenticate a WebSocket in this project's auth mode ({{ cookiecutter.auth_mode }}).

Credentials are keyword arguments for the `communicator` fixture and `LiveServer.websocket`.
"""

from tests.{{ cookiecutter.auth_mode }}_credentials import (
    HANDSHAKE_DURING_A_REDIS_OUTAGE,
    assert_live_credential_while_redis_is_down,
    live_ws_credentials_for,
    live_ws_credentials_many,
    live_ws_credentials_with,
    ws_credentials_for,
)

__all__ = [
    "HANDSHAKE_DURING_A_REDIS_OUTAGE",
    "assert_live_credential_while_redis_is_down",
    "live_ws_credentials_for",
    "live_ws_credentials_many",
    "live_ws_credentials_with",
    "ws_credentials_for",
]
