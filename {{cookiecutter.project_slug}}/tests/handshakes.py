"""What tests send with a WebSocket handshake, and what a refused handshake looks like."""

from websockets.exceptions import InvalidStatus

from tests.communicators import HANG_GUARD_SECONDS

# An Origin of an allowed host (ALLOWED_HOSTS), as a browser on the site would send it.
ALLOWED_ORIGIN = b"http://localhost"
CLOSE_TRY_AGAIN_LATER = {"type": "websocket.close", "code": 1013, "reason": "try_again_later"}


async def assert_refused(comm):
    """The handshake is refused (a close before accept: HTTP 403), and nothing else is sent."""
    connected, _ = await comm.connect()
    assert connected is False
    assert await comm.receive_nothing()


async def assert_told_to_try_again_later(comm, timeout=HANG_GUARD_SECONDS):  # noqa: ASYNC109
    """The handshake is accepted, then the socket is closed with 1013 (try again later), each
    within `timeout` seconds, and nothing else is sent."""
    connected, _ = await comm.connect(timeout)
    assert connected is True
    assert await comm.receive_output(timeout) == CLOSE_TRY_AGAIN_LATER
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
