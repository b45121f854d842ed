"""What tests send with a WebSocket handshake, and what a refused handshake looks like."""

from websockets.exceptions import InvalidStatus

# An Origin of an allowed host (ALLOWED_HOSTS), as a browser on the site would send it.
ALLOWED_ORIGIN = b"http://localhost"


async def assert_refused(comm):
    """The handshake is refused (a close before accept: HTTP 403), and nothing else is sent."""
    connected, _ = await comm.connect()
    assert connected is False
    assert await comm.receive_nothing()


async def admitted(server, credentials) -> bool:
    """Whether a running server (tests.live_server) opens a socket with these credentials; False
    when it refuses the handshake with HTTP 403 (any other answer fails the test)."""
    try:
        async with server.websocket(**credentials):
            return True
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
        return False
