"""How tests authenticate a WebSocket in the ticket mode: a ticket from the real endpoint."""

import json
from dataclasses import dataclass

from channels.testing import HttpCommunicator

from config.asgi import application
from tests.communicators import HANG_GUARD_SECONDS

TICKET_URL = "/api/ws-ticket/"
# What a handshake with a ticket bought before a Redis outage gets during it: HTTP 403, from the
# middleware that cannot redeem it (a client then asks for a new ticket: 503 until Redis is back).
HANDSHAKE_DURING_A_REDIS_OUTAGE = (403, None)


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self):
        return json.loads(self.body)


async def post_for_ticket(bearer=None, *, method="POST", headers=(), body=b"") -> Response:
    """`method` /api/ws-ticket/ on the full ASGI stack, with `Authorization: Bearer <bearer>`."""
    request_headers = [(b"host", b"testserver"), *headers]
    if bearer is not None:
        request_headers.append((b"authorization", f"Bearer {bearer}".encode()))
    communicator = HttpCommunicator(
        application, method, TICKET_URL, body=body, headers=request_headers
    )
    response = await communicator.get_response(timeout=HANG_GUARD_SECONDS)
    headers = {
        name.decode().lower(): value.decode("latin-1") for name, value in response["headers"]
    }
    return Response(response["status"], headers, response["body"])


async def ws_credentials_for(access) -> dict:
    response = await post_for_ticket(access)
    assert response.status == 201, response.body
    return {"query": f"ticket={response.json()['ticket']}"}


def live_ws_credentials_for(server, username="alice") -> dict:
    """The same, against a running server over HTTP."""
    return live_ws_credentials_with(server, server.access_token(username))


def live_ws_credentials_with(server, access) -> dict:
    """A ticket bought from a running server with this access token."""
    status, body = server.post_json(TICKET_URL, bearer=access)
    assert status == 201, body
    return {"query": f"ticket={body['ticket']}"}


def live_ws_credentials_many(server, count, username="alice") -> list[dict]:
    """`count` tickets of `username`, one per socket; the server's WS_TICKET_THROTTLE_RATE must
    allow that many."""
    access = server.access_token(username)
    credentials = []
    for _ in range(count):
        status, body = server.post_json(TICKET_URL, bearer=access)
        assert status == 201, body
        credentials.append({"query": f"ticket={body['ticket']}"})
    return credentials


def assert_live_credential_while_redis_is_down(server) -> None:
    """Tickets live in Redis: while it is down, the ticket endpoint answers 503 JSON, no 500."""
    status, headers, body = server.post(TICKET_URL, bearer=server.access_token())
    assert status == 503, body
    assert headers["Content-Type"] == "application/json"
    assert set(body) == {"detail"}
    assert int(headers["Retry-After"]) > 0
