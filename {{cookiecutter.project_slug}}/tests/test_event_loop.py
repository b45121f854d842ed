"""Nothing on a WebSocket path blocks the event loop: one blocking call there stalls every socket
of the process.

A guard records blocking calls made on the event loop's thread while the loop runs: time.sleep
and socket I/O on blocking sockets (a synchronous Redis or HTTP client, for instance). The loop's
own sockets are non-blocking and pass; Django already refuses synchronous ORM calls there
(SynchronousOnlyOperation), which the communicator re-raises. Database work belongs in
database_sync_to_async, which runs it in a thread.
"""

import asyncio
import socket
import threading
import time
import traceback
from datetime import timedelta

import pytest

from tests.handshakes import assert_refused

SOCKET_CALLS = ("connect", "connect_ex", "recv", "recv_into", "recvfrom", "send", "sendall")


@pytest.fixture
def blocking_calls(monkeypatch):
    """The blocking calls made on the event loop while the test ran, each with its stack."""
    calls = []
    test_thread = threading.get_ident()  # pytest-asyncio runs the loop in the test's thread

    def on_the_loop():
        if threading.get_ident() != test_thread:
            return False
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False  # synchronous test code, outside the loop
        return True

    def record(name):
        calls.append(f"{name}\n{''.join(traceback.format_stack(limit=12)[:-2])}")

    sleep = time.sleep

    def guarded_sleep(seconds):
        if on_the_loop():
            record(f"time.sleep({seconds})")
        sleep(seconds)

    monkeypatch.setattr(time, "sleep", guarded_sleep)

    for name in SOCKET_CALLS:
        original = getattr(socket.socket, name)

        def guarded(sock, *args, _original=original, _name=name, **kwargs):
            if sock.gettimeout() != 0.0 and on_the_loop():
                record(f"socket.{_name} on a blocking socket")
            return _original(sock, *args, **kwargs)

        monkeypatch.setattr(socket.socket, name, guarded)

    return calls


async def test_handshake_chat_and_refresh_never_block_the_loop(
    communicator, ws_credentials, user, access_token, blocking_calls
):
    credentials = await ws_credentials(user)  # issuing a credential is HTTP: it may use threads

    comm = communicator(**credentials)
    assert (await comm.connect())[0]
    await comm.send_json_to({"message": "hello"})
    assert (await comm.receive_json_from())["message"] == "hello"
    await comm.send_json_to({"type": "auth", "token": access_token(user, timedelta(minutes=5))})
    assert (await comm.receive_json_from())["type"] == "auth.ok"
    await comm.send_json_to({"message": 42})
    assert (await comm.receive_json_from())["type"] == "error"
    await comm.disconnect()
    await assert_refused(communicator(query=""))

    assert blocking_calls == []


async def test_the_guard_sees_a_blocking_call(blocking_calls):
    # The guard itself: a blocking socket used on the loop is recorded.
    with socket.socket() as sock:
        sock.settimeout(0.01)
        sock.connect_ex(("127.0.0.1", 9))  # nothing listens on the discard port, or it answers
    time.sleep(0)  # noqa: ASYNC251 (deliberately: the guard must see it)

    assert len(blocking_calls) == 2
    blocking_calls.clear()
