"""Fixtures shared by every test: users, tokens, WebSocket connections, and isolation on Redis.

Set REDIS_URL and/or DATABASE_URL to run the same suite against real services. With
REQUIRE_SERVICES=1 (CI), a test that needs Redis fails instead of skipping when it is not set.
"""

import os
import uuid

import pytest
import redis
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from config.asgi import application
from tests.credentials import ws_credentials_for
from tests.live_server import LiveServer, migrated_database
from tests.throwaway_redis import REDIS_SERVER, ThrowawayRedis

ALLOWED_ORIGIN = b"http://localhost"
PASSWORD = "correct horse battery staple"


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES", "") not in ("", "0")


@pytest.fixture(scope="session", autouse=True)
def fast_password_hasher():
    """Passwords made and checked in the test process use a fast hasher.

    PBKDF2 costs a quarter of a second per password on a small machine, and most tests create
    users; no test is about the hash's strength (Django's documentation recommends this for test
    runs). Servers that the tests start keep the project's own hashers.
    """
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session")
def redis_url():
    """The Redis under test; skips (or, with REQUIRE_SERVICES=1, fails) without REDIS_URL."""
    if not settings.REDIS_URL:
        message = "needs Redis: set REDIS_URL"
        if services_required():
            pytest.fail(f"{message} (REQUIRE_SERVICES is set)")
        pytest.skip(message)
    return settings.REDIS_URL


@pytest.fixture
def throwaway_redis(tmp_path):
    """A started redis-server of this test's own; skips (or fails) if redis-server is missing."""
    if REDIS_SERVER is None:
        message = "needs redis-server on PATH"
        if services_required():
            pytest.fail(f"{message} (REQUIRE_SERVICES is set)")
        pytest.skip(message)
    server = ThrowawayRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def delete_keys(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture(scope="session", autouse=True)
def isolated_redis_keys():
    """On Redis, write under a prefix of this run's own and delete exactly those keys afterwards."""
    if not settings.REDIS_URL:
        yield None
        return
    prefix = f"{settings.REDIS_KEY_PREFIX}:test-{uuid.uuid4().hex[:12]}"
    layers = settings.CHANNEL_LAYERS
    caches = settings.CACHES
    with override_settings(
        REDIS_KEY_PREFIX=prefix,
        CHANNEL_LAYERS={
            "default": {
                **layers["default"],
                "CONFIG": {**layers["default"]["CONFIG"], "prefix": f"{prefix}:channels"},
            }
        },
        CACHES={"default": {**caches["default"], "KEY_PREFIX": f"{prefix}:cache"}},
    ):
        try:
            yield prefix
        finally:
            delete_keys(settings.REDIS_URL, prefix)


@pytest.fixture(autouse=True)
def empty_cache(isolated_redis_keys):
    """Each test starts with no tickets and no throttle history; call it to empty the cache again.

    Never cache.clear() on Redis: it flushes the whole database, other people's keys included.
    """

    def empty():
        if isolated_redis_keys:
            delete_keys(settings.REDIS_URL, f"{isolated_redis_keys}:cache")
        else:
            cache.clear()

    empty()
    return empty


@pytest.fixture
def make_user(transactional_db):
    """Create users; committed, so that the server's threads and event loop see them."""

    def make(username="alice", **fields):
        return get_user_model().objects.create_user(username=username, password=PASSWORD, **fields)

    return make


@pytest.fixture
def user(make_user):
    return make_user("alice")


@pytest.fixture
def other_user(make_user):
    return make_user("bob")


@pytest.fixture
def tokens():
    """`tokens(user)` -> (access, refresh) as strings, minted by simplejwt.

    The refresh token is recorded in the database (token_blacklist): call it from sync code.
    """

    def mint(for_user):
        refresh = RefreshToken.for_user(for_user)
        return str(refresh.access_token), str(refresh)

    return mint


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
async def communicator(transactional_db):
    """`communicator(path, query=..., subprotocols=..., origin=...)`: a WebsocketCommunicator on
    the full ASGI stack. `communicator(**await ws_credentials(user))` connects as `user`.

    Subprotocols also go into a `Sec-WebSocket-Protocol` header, as a server would pass them on.
    Every communicator it made is disconnected at teardown, which also re-raises any exception the
    application raised. Consumers touch the database (Channels closes stale connections on every
    message), and the auth middleware reads users from other threads: hence transactional_db.
    """
    made = []

    def make(path="/ws/chat/lobby/", query="", subprotocols=None, origin=ALLOWED_ORIGIN):
        url = f"{path}?{query}" if query else path
        headers = [(b"origin", origin)] if origin is not None else []
        if subprotocols:
            headers.append((b"sec-websocket-protocol", ", ".join(subprotocols).encode()))
        made.append(WebsocketCommunicator(application, url, headers, subprotocols))
        return made[-1]

    yield make
    for comm in made:
        await comm.disconnect()


@pytest.fixture
def access_token():
    """`access_token(user, lifetime=None)` -> a signed access JWT; touches no database.

    `lifetime` (a timedelta) overrides ACCESS_TOKEN_LIFETIME, negative for an expired token.
    """

    def mint(for_user, lifetime=None):
        token = AccessToken.for_user(for_user)
        if lifetime is not None:
            token.set_exp(lifetime=lifetime)
        return str(token)

    return mint


@pytest.fixture
def ws_credentials(access_token):
    """`await ws_credentials(user, lifetime=None)` -> the `communicator` arguments that
    authenticate `user` in this mode, backed by an access token of that lifetime."""

    async def credentials(for_user, lifetime=None):
        return await ws_credentials_for(access_token(for_user, lifetime))

    return credentials


async def assert_refused(comm):
    """The handshake is refused (a close before accept: HTTP 403), and nothing else is sent."""
    connected, _ = await comm.connect()
    assert connected is False
    assert await comm.receive_nothing()


@pytest.fixture(scope="session")
def template_db(tmp_path_factory):
    """A migrated SQLite file with the live-server users, copied for each server."""
    return migrated_database(tmp_path_factory.mktemp("live-db"))


@pytest.fixture
def server_process(tmp_path, template_db, isolated_redis_keys):
    """`server_process(kind="uvicorn")` -> a started LiveServer, stopped at teardown.

    Servers started in one test share this run's Redis key prefix, and so talk to each other.
    """
    servers = []

    def start(kind="uvicorn", **env):
        server = LiveServer(tmp_path, template_db, isolated_redis_keys, kind=kind, **env)
        servers.append(server.__enter__())
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)
