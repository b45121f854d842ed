"""Channels' WebSocket communicator, with waits that end on an event rather than on a clock.

WebsocketCommunicator gives up after one second by default: on a machine busy with other test
workers (or two suites side by side in CI), a handshake whose user lookup runs in a thread can take
longer than that, and the test fails for a reason that has nothing to do with what it tests.
`Communicator` waits up to HANG_GUARD_SECONDS instead, a bound that only a hang reaches; tests
that mean a deadline pass their own `timeout`, and `receive_nothing` keeps its own short wait.
"""

from channels.testing import WebsocketCommunicator

# Guards against a hang only: every wait below ends as soon as its event arrives.
HANG_GUARD_SECONDS = 10


class Communicator(WebsocketCommunicator):
    async def connect(self, timeout=HANG_GUARD_SECONDS):  # noqa: ASYNC109 (Channels' signature)
        return await super().connect(timeout)

    async def receive_output(self, timeout=HANG_GUARD_SECONDS):  # noqa: ASYNC109 (Channels' signature)
        return await super().receive_output(timeout)

    async def receive_from(self, timeout=HANG_GUARD_SECONDS):  # noqa: ASYNC109 (Channels' signature)
        return await super().receive_from(timeout)

    async def receive_json_from(self, timeout=HANG_GUARD_SECONDS):  # noqa: ASYNC109 (Channels' signature)
        return await super().receive_json_from(timeout)

    async def disconnect(self, code=1000, timeout=HANG_GUARD_SECONDS):  # noqa: ASYNC109 (Channels' signature)
        return await super().disconnect(code, timeout)


async def open_socket(communicator, ws_credentials, user, lifetime=None, room="lobby"):
    """A socket of `user` connected to `room` with the project's credential, backed by an access
    token of `lifetime` (a timedelta; the settings' lifetime when None)."""
    comm = communicator(f"/ws/chat/{room}/", **await ws_credentials(user, lifetime))
    connected, _ = await comm.connect()
    assert connected
    return comm
