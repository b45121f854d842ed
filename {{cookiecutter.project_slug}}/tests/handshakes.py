"""What tests send with a WebSocket handshake, and what a refused handshake looks like."""

# An Origin of an allowed host (ALLOWED_HOSTS), as a browser on the site would send it.
ALLOWED_ORIGIN = b"http://localhost"


async def assert_refused(comm):
    """The handshake is refused (a close before accept: HTTP 403), and nothing else is sent."""
    connected, _ = await comm.connect()
    assert connected is False
    assert await comm.receive_nothing()
