"""One Redis connection per event loop (in a server process: one), on the Redis of Django's default
cache, that every task uses at once: the tickets' hot path.

Concurrent commands share the connection (pipelining): each is written as soon as it is issued,
Redis answers in order, and one read often brings the replies of several handshakes. redis-py
still connects, authenticates, encodes commands and parses replies; the connection's stream
writer is used directly (redis-py pinned to 8.x) because send_packed_command disconnects when its
caller is cancelled. Measured reason: a GETDEL costs about 22 µs of process CPU here against 94 to
122 µs through redis-py's asyncio pools, which lend each command its own connection, timeout task
and wake-up (50 concurrent callers; the template's bench/README.md has the A/B).
"""

import asyncio
import functools
from collections import deque
from contextlib import suppress

import redis.asyncio as redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

# How long a reply may take when the cache's OPTIONS set no socket_timeout. Past it, Redis counts
# as unavailable (realtime.redis_outages.REDIS_UNAVAILABLE) and the connection is replaced.
DEFAULT_REPLY_TIMEOUT = 5

# RedisCache OPTIONS that configure Django's client, not redis-py's connections.
DJANGO_ONLY_OPTIONS = ("pool_class", "parser_class", "serializer")

# (event loop, cache alias) -> the connection, and the generator that closes it with its loop.
_connections: dict[tuple, tuple["SharedConnection", object]] = {}


def uses_redis(cache_alias: str = "default") -> bool:
    return is_redis_backend(settings.CACHES[cache_alias]["BACKEND"])


@functools.cache
def is_redis_backend(backend: str) -> bool:
    return issubclass(import_string(backend), RedisCache)


def cache_key(key: str, cache_alias: str = "default") -> str:
    """`key` as CACHES[cache_alias] names it (its make_key: KEY_PREFIX, VERSION, KEY_FUNCTION).

    From one backend object per process and alias. Measured reason: Django keeps a backend
    object per async context, so `cache.make_key` in a socket's handshake left each open socket
    holding a RedisCache of its own (0.6 KiB per idle socket, by tracemalloc).
    """
    return key_maker(cache_alias)(key)


@functools.cache
def key_maker(cache_alias: str):
    return caches.create_connection(cache_alias).make_key


async def cache_redis(cache_alias: str = "default") -> "SharedConnection":
    """The running loop's shared connection to the Redis of CACHES[cache_alias] (a RedisCache)."""
    key = (asyncio.get_running_loop(), cache_alias)
    if (entry := _connections.get(key)) is not None:
        return entry[0]
    config = settings.CACHES[cache_alias]
    location = config["LOCATION"]
    if not isinstance(location, str):
        location = location[0]
    url = location.replace(";", ",").split(",")[0]  # the server Django writes to
    options = {
        name: value
        for name, value in config.get("OPTIONS", {}).items()
        if name not in DJANGO_ONLY_OPTIONS
    }
    connection = SharedConnection(url, **options)
    closer = close_with_loop(key, connection)
    _connections[key] = (connection, closer)
    await anext(closer)
    return connection


@receiver(setting_changed)
def forget_connections_when_caches_change(setting, **kwargs):
    """The next command connects to the Redis of the new CACHES (tests change it)."""
    if setting == "CACHES":
        # Each connection is still closed with its loop, by its close_with_loop generator.
        _connections.clear()
        key_maker.cache_clear()


async def close_with_loop(key, connection: "SharedConnection"):
    """Closes `connection` when its event loop shuts down, while that loop can still run it.

    asyncio.run() and asyncio.Runner (uvicorn, asgiref, pytest-asyncio) close every open
    asynchronous generator before closing their loop. Iterated once, this one is among them.
    """
    try:
        yield
    finally:
        if _connections.get(key, (None,))[0] is connection:
            del _connections[key]
        with suppress(Exception):
            await connection.aclose()


class SharedConnection:
    """A Redis connection that many tasks of one event loop use at once.

    `execute(*command)` returns the command's raw reply (bytes, int, None, list); an error reply
    raises ResponseError for that command alone. When the connection breaks, or a reply is later
    than the reply timeout, every command waiting on it fails with redis-py's ConnectionError or
    TimeoutError, and the next command connects anew. A command is never sent twice: a GETDEL
    whose reply was lost may have taken its key.
    """

    def __init__(self, url: str, **options):
        # redis-py reads the URL and options (TLS, unix socket, database, credentials).
        pool = redis.ConnectionPool.from_url(url, **options)
        self.connection_class = pool.connection_class
        self.connection_kwargs = dict(pool.connection_kwargs)
        socket_timeout = self.connection_kwargs.pop("socket_timeout", None)
        self.reply_timeout = socket_timeout or DEFAULT_REPLY_TIMEOUT
        connect_timeout = self.connection_kwargs.get("socket_connect_timeout")
        self.connect_timeout = connect_timeout or self.reply_timeout
        self.connection_kwargs["socket_connect_timeout"] = self.connect_timeout
        kwargs = self.connection_kwargs
        self.address = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        self.pipe = None  # the live _Pipe, or None until the next command connects
        self.connecting = None  # the task opening the next one, shared by all who wait for it

    async def execute(self, *command):
        """Send one command and return its reply."""
        (reply,) = await self.send(1, lambda connection: connection.pack_command(*command))
        return await reply

    async def execute_many(self, *commands) -> list:
        """Send several commands in one write and return their replies, in order."""
        replies = await self.send(
            len(commands), lambda connection: connection.pack_commands(commands)
        )
        return await asyncio.gather(*replies)

    async def send(self, count: int, pack) -> list[asyncio.Future]:
        """Write `count` commands, packed by `pack(connection)`; the futures of their replies."""
        pipe = self.pipe
        if pipe is None or pipe.broken:
            pipe = await self.open_pipe()
        connection = pipe.connection
        packed = pack(connection)  # a command redis-py cannot encode fails here, alone
        replies = pipe.expect(count)
        # Written here, not by redis-py's send_packed_command: that one disconnects on any
        # BaseException, so a caller cancelled while it waits for flow control would break the
        # connection under every command in flight on it.
        writer = connection._writer
        try:
            # Buffered in order, before any await: commands go out in the order their replies
            # are expected. Only flow control (drain) may wait.
            writer.writelines(packed)
            await writer.drain()
        except asyncio.CancelledError:
            # The command is in the transport's buffer and will be sent all the same; its reply
            # is read and dropped. The connection stays.
            for reply in replies:
                reply.cancel()
            raise
        except OSError as error:
            # and so does everything else sent on this connection
            pipe.fail(RedisConnectionError(f"Error while writing to {self.address}: {error!r}"))
        return replies

    async def open_pipe(self) -> "_Pipe":
        # One attempt at a time, awaited by every command that needs it: during an outage a burst
        # of handshakes is refused after one connect timeout, not one after another.
        if self.connecting is None:
            self.connecting = asyncio.ensure_future(self._connect())
            self.connecting.add_done_callback(self._connected)
        return await asyncio.shield(self.connecting)

    async def _connect(self) -> "_Pipe":
        # No socket_timeout on the connection itself: redis-py would then start a task per write
        # and a timer per read. The pipe times its replies out itself, with one timer.
        connection = self.connection_class(**self.connection_kwargs, socket_timeout=None)
        try:
            async with asyncio.timeout(self.connect_timeout + self.reply_timeout):
                await connection.connect()
        except TimeoutError:
            await connection.disconnect(nowait=True)
            raise RedisTimeoutError(f"Timeout connecting to {self.address}") from None
        return _Pipe(connection, self.reply_timeout, self.address)

    def _connected(self, task) -> None:
        self.connecting = None
        if not task.cancelled() and task.exception() is None:
            self.pipe = task.result()

    async def aclose(self) -> None:
        if self.pipe is not None:
            await self.pipe.close()


class _Pipe:
    """One open connection of a SharedConnection, and the replies still owed on it, in order."""

    def __init__(self, connection, reply_timeout: float, address: str):
        self.connection = connection
        self.reply_timeout = reply_timeout
        self.address = address
        self.loop = asyncio.get_running_loop()
        # (when the reply is due, its future), oldest first.
        self.waiting: deque[tuple[float, asyncio.Future]] = deque()
        self.watchdog = None  # the timer that checks the oldest reply is not overdue
        self.broken = False
        # Always reading, idle or not: a reply wakes the reader once, and Redis closing an idle
        # connection is noticed before the next command.
        self.reader = asyncio.ensure_future(self.read_replies())

    def expect(self, count: int) -> list[asyncio.Future]:
        """Futures for the replies of `count` commands about to be written."""
        if self.broken or not self.connection.is_connected:
            raise RedisConnectionError("Connection to Redis lost")
        due = self.loop.time() + self.reply_timeout
        replies = [self.loop.create_future() for _ in range(count)]
        self.waiting.extend((due, reply) for reply in replies)
        if self.watchdog is None:
            self.watchdog = self.loop.call_at(due, self.check_overdue)
        return replies

    def check_overdue(self) -> None:
        # One timer per connection, not one per reply: it fires when the oldest reply it knew of
        # was due, and is set again for the oldest one still owed.
        self.watchdog = None
        if not self.waiting:
            return
        due = self.waiting[0][0]
        if self.loop.time() >= due:
            self.fail(RedisTimeoutError(f"Timeout reading from {self.address}"))
        else:
            self.watchdog = self.loop.call_at(due, self.check_overdue)

    async def read_replies(self) -> None:
        """Hand each reply to the command it answers, for as long as the connection lives."""
        waiting = self.waiting
        try:
            while True:
                try:
                    reply = await self.connection.read_response(disconnect_on_error=False)
                except ResponseError as error:  # an error reply, read in full: that command's
                    reply = error
                _, waiter = waiting.popleft()
                if waiter.done():
                    continue  # its caller went away; the reply is dropped
                if isinstance(reply, ResponseError):
                    waiter.set_exception(reply)
                else:
                    waiter.set_result(reply)
        except (RedisConnectionError, RedisTimeoutError) as error:
            self.fail(error)
        except Exception as error:  # a reply nobody asked for, or one redis-py cannot parse
            self.fail(RedisConnectionError(f"Error while reading from {self.address}: {error!r}"))

    def fail(self, error: Exception) -> None:
        """Fail every reply still owed and drop the connection: the next command reconnects."""
        if self.broken:
            return
        self.broken = True
        while self.waiting:
            if not (waiter := self.waiting.popleft()[1]).done():
                waiter.set_exception(error)
        if self.watchdog is not None:
            self.watchdog.cancel()
        if self.reader is not asyncio.current_task():
            self.reader.cancel()
        # Kept: a task only weakly referenced by the loop could be collected before it ran.
        self.disconnecting = asyncio.ensure_future(self.connection.disconnect(nowait=True))

    async def close(self) -> None:
        self.fail(RedisConnectionError("Connection closed"))
        await self.disconnecting
