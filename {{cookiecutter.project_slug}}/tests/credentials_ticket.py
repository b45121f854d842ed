"""How tests authenticate a WebSocket in this mode: a ticket from the real endpoint.

Credentials are keyword arguments for the `communicator` fixture and `LiveServer.websocket`.
"""

from asgiref.sync import sync_to_async
from rest_framework.test import APIClient


async def ws_credentials_for(access) -> dict:

    @sync_to_async
    def post_for_ticket():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        return client.post("/api/ws-ticket/")

    response = await post_for_ticket()
    assert response.status_code == 201, response.content
    return {"query": f"ticket={response.json()['ticket']}"}


def live_ws_credentials_for(server, username="alice") -> dict:
    """The same, against a running server over HTTP."""
    status, body = server.post_json("/api/ws-ticket/", bearer=server.access_token(username))
    assert status == 201, body
    return {"query": f"ticket={body['ticket']}"}


def assert_live_credential_while_redis_is_down(server) -> None:
    """Tickets live in Redis: while it is down, the ticket endpoint answers 503 JSON, no 500."""
    status, headers, body = server.post("/api/ws-ticket/", bearer=server.access_token())
    assert status == 503, body
    assert headers["Content-Type"] == "application/json"
    assert set(body) == {"detail"}
    assert int(headers["Retry-After"]) > 0
