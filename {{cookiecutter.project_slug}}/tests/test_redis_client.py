"""The tickets' Redis connection (realtime.redis_client): many commands in flight at once on one
connection, each answered with its own reply; when Redis fails, the commands fail fast and the
next one connects anew."""

import asyncio
import os
import signal
import socket
import time

import pytest
import redis
from redis.exceptions import ResponseError

from realtime.redis_client import SharedConnection
from realtime.redis_outages import REDIS_UNAVAILABLE


@pytest.fixture
async def shared(redis_url):
    connection = SharedConnection(redis_url)  # no timeouts given: the defaults apply
    yield connection
    await connection.aclose()


async def test_commands_in_flight_at_once_each_get_their_own_reply(shared, isolated_redis_keys):
    keys = [f"{isolated_redis_keys}:burst:{i}" for i in range(500)]
    await shared.execute_many(*(("SET", key, f"value {i}") for i, key in enumerate(keys)))

    results = await asyncio.gather(*(shared.execute("GETDEL", key) for key in reversed(keys)))

    assert results == [f"value {i}".encode() for i in reversed(range(500))]
    assert await shared.execute("EXISTS", *keys) == 0


async def test_an_error_reply_fails_its_own_command_only(shared, isolated_redis_keys):
    key = f"{isolated_redis_keys}:error"

    with pytest.raises(ResponseError):
        await shared.execute_many(("SET", key, "text"), ("INCR", key), ("APPEND", key, "!"))

    assert await shared.execute("GET", key) == b"text!"


async def test_a_command_that_cannot_be_encoded_fails_alone(shared, isolated_redis_keys):
    key = f"{isolated_redis_keys}:encode"

    with pytest.raises(redis.DataError):
        await shared.execute("SET", key, {"not": "bytes"})

    assert await shared.execute("SET", key, "fine") == b"OK"


async def test_a_caller_that_goes_away_does_not_shift_the_replies(shared, isolated_redis_keys):
    keys = [f"{isolated_redis_keys}:gone:{i}" for i in range(20)]
    await shared.execute_many(*(("SET", key, str(i)) for i, key in enumerate(keys)))
    calls = [asyncio.ensure_future(shared.execute("GET", key)) for key in keys]
    await asyncio.sleep(0)  # every command written, no reply read yet

    for call in calls[::2]:
        call.cancel()

    assert await asyncio.gather(*calls[1::2]) == [str(i).encode() for i in range(1, 20, 2)]
    assert await shared.execute("GET", keys[0]) == b"0"


async def test_commands_fail_fast_while_redis_is_down_and_reconnect_after(throwaway_redis):
    shared = SharedConnection(throwaway_redis.url, socket_connect_timeout=1, socket_timeout=1)
    assert await shared.execute("PING") == b"PONG"

    await asyncio.to_thread(throwaway_redis.stop)
    started = time.monotonic()
    for _ in range(3):
        with pytest.raises(REDIS_UNAVAILABLE):
            await shared.execute("PING")
    assert time.monotonic() - started < 3

    await asyncio.to_thread(throwaway_redis.start)
    assert await shared.execute("PING") == b"PONG"
    await shared.aclose()


async def test_a_redis_that_stops_answering_fails_the_commands_and_is_replaced(throwaway_redis):
    shared = SharedConnection(throwaway_redis.url, socket_connect_timeout=1, socket_timeout=0.5)
    first_id = await shared.execute("CLIENT", "ID")
    admin = redis.Redis.from_url(throwaway_redis.url)

    # Redis holds every other client's commands for 1.5 s: no reply comes within 0.5 s.
    admin.execute_command("CLIENT", "PAUSE", 1500)
    started = time.monotonic()
    results = await asyncio.gather(
        *(shared.execute("PING") for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(result, redis.TimeoutError) for result in results)
    assert time.monotonic() - started < 1.4

    await asyncio.sleep(max(0, 1.6 - (time.monotonic() - started)))
    assert await shared.execute("CLIENT", "ID") != first_id  # a new connection
    admin.close()
    await shared.aclose()


async def test_a_burst_during_an_outage_waits_for_one_connection_attempt():
    """Fifty commands while Redis accepts connections but never answers: all of them fail after
    one connect timeout, and only one connection was tried."""
    with socket.socket() as unresponsive:
        unresponsive.bind(("127.0.0.1", 0))
        unresponsive.listen(100)  # the kernel completes connections; nothing ever answers
        port = unresponsive.getsockname()[1]
        shared = SharedConnection(
            f"redis://127.0.0.1:{port}/0", socket_connect_timeout=0.3, socket_timeout=0.3
        )

        started = time.monotonic()
        results = await asyncio.gather(
            *(shared.execute("GET", "key") for _ in range(50)), return_exceptions=True
        )

        assert all(isinstance(result, REDIS_UNAVAILABLE) for result in results)
        assert time.monotonic() - started < 2  # one attempt of 0.6 s, not fifty in turn
        assert connections_waiting(unresponsive) == 1


def connections_waiting(listening: socket.socket) -> int:
    """Accept (and close) each connection in the listening socket's backlog; how many there were."""
    listening.setblocking(False)
    count = 0
    while True:
        try:
            connection, _ = listening.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


async def test_a_caller_cancelled_while_its_write_waits_for_the_socket_spoils_no_other(
    throwaway_redis,
):
    """Redis frozen (SIGSTOP) so the socket's buffers fill: the commands issued then wait in their
    write (flow control). One caller is cancelled there; once Redis reads again, every other
    command gets its own reply, on the same connection."""
    shared = SharedConnection(throwaway_redis.url, socket_connect_timeout=1, socket_timeout=30)
    client_id = await shared.execute("CLIENT", "ID")
    pipe = shared.pipe
    transport = pipe.connection._writer.transport
    big = b"x" * (32 * 1024 * 1024)  # far more than the kernel's buffers on loopback hold
    pid = throwaway_redis.process.pid

    os.kill(pid, signal.SIGSTOP)
    try:
        first = asyncio.ensure_future(shared.execute("SET", "big", big))
        await asyncio.sleep(0.1)
        assert transport.get_write_buffer_size() > 0  # the kernel took what it could; no more
        calls = [asyncio.ensure_future(shared.execute("SET", f"k{i}", f"v{i}")) for i in range(5)]
        await asyncio.sleep(0.1)
        assert not first.done() and not any(call.done() for call in calls)  # all in drain()

        calls[2].cancel()  # its command is already in the transport's buffer
        await asyncio.sleep(0.1)
        assert calls[2].cancelled()
    finally:
        os.kill(pid, signal.SIGCONT)

    others = [first, *calls[:2], *calls[3:]]
    async with asyncio.timeout(10):
        results = await asyncio.gather(*others, return_exceptions=True)
    assert results == [b"OK"] * 5, [f"{type(r).__name__}: {r}" for r in results]
    assert shared.pipe is pipe and not pipe.broken
    assert await shared.execute("CLIENT", "ID") == client_id  # never reconnected
    # The cancelled SET had been handed to the transport, so it was sent all the same: once.
    values = await shared.execute_many(*(("GET", f"k{i}") for i in range(5)))
    assert values == [f"v{i}".encode() for i in range(5)]
    assert await shared.execute("STRLEN", "big") == len(big)
    await shared.aclose()
