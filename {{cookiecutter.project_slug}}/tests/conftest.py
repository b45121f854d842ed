"""Fixtures shared by every test: users, tokens, WebSocket connections, and isolation on Redis.

Set REDIS_URL and/or DATABASE_URL to run the same suite against real services. With
REQUIRE_SERVICES=1 (CI), a test that needs Redis fails instead of skipping when it is not set.
"""

import os
import time

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from config.asgi import application
from tests.communicators import Communicator
from tests.credentials import ws_credentials_for
from tests.handshakes import ALLOWED_ORIGIN
from tests.live_server import LiveServer, migrated_database
from tests.redis_isolation import delete_keys, new_prefix, prefixed_settings
from tests.required_services import skip_or_fail
from tests.throwaway_redis import REDIS_SERVER, ThrowawayRedis
from tests.users import PASSWORD
{%- if cookiecutter.demo_page %}

# The demo page's browser, development server and open_demo (tests/demo_page.py).
pytest_plugins = ["tests.demo_page"]
{%- endif %}


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow",
        action="store_true",
        help="also run the tests marked slow, which take real time by nature (CI runs them)",
    )


def pytest_collection_modifyitems(config, items):
    """Skip the `slow` tests unless --run-slow (or a -m expression naming them) asks for them.

    Then order the modules that wait longest first: those with a `slow` test that runs, then those
    that start servers, then the rest, each in its own order. pytest-xdist hands modules to its
    workers in this order (--dist loadfile): the long ones start at once, and the quick ones fill
    in at the end."""
    if not config.getoption("--run-slow") and "slow" not in config.getoption("markexpr"):
        skip = pytest.mark.skip(reason="slow: takes real time; --run-slow runs it (CI does)")
        for item in items:
            if item.get_closest_marker("slow"):
                item.add_marker(skip)

    def modules_with(marker):
        return {
            item.module
            for item in items
            if item.get_closest_marker(marker) and not item.get_closest_marker("skip")
        }

    slow, serving = modules_with("slow"), modules_with("server")
    first_seen = {}
    for item in items:
        first_seen.setdefault(item.module, len(first_seen))
    items.sort(
        key=lambda item: (
            item.module not in slow,
            item.module not in serving,
            first_seen[item.module],  # a module's tests together, so its fixtures start once
        )
    )


@pytest.fixture(scope="session", autouse=True)
def fast_password_hasher():
    """Passwords made and checked in the test process use a fast hasher.

    PBKDF2 costs about half a second of CPU per password on a small machine, and most tests create
    users; no test is about the hash's strength (Django's documentation recommends this for test
    runs). The servers that the tests start do the same (tests/live_server_settings.py).
    """
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session")
def redis_url():
    """The Redis under test; skips (or, with REQUIRE_SERVICES=1, fails) without REDIS_URL."""
    if not settings.REDIS_URL:
        skip_or_fail("needs Redis: set REDIS_URL")
    return settings.REDIS_URL


@pytest.fixture
def throwaway_redis(tmp_path):
    """A started redis-server of this test's own; skips (or fails) if redis-server is missing."""
    if REDIS_SERVER is None:
        skip_or_fail("needs redis-server on PATH")
    server = ThrowawayRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def isolated_redis_keys():
    """On Redis, write under a prefix of this run's own and delete exactly those keys afterwards."""
    if not settings.REDIS_URL:
        yield None
        return
    prefix = new_prefix()
    with override_settings(**prefixed_settings(prefix)):
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
    """`communicator(path, query=..., subprotocols=..., origin=...)`: a Communicator
    (tests/communicators.py) on the full ASGI stack. `communicator(**await ws_credentials(user))`
    connects as `user`.

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
        made.append(Communicator(application, url, headers, subprotocols))
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


@pytest.fixture(scope="session")
def template_db(tmp_path_factory):
    """A migrated SQLite file with the live-server users, copied for each server.

    Made once per run: pytest-xdist workers share it through their common temporary directory.
    The worker that creates the lock file makes it; the others wait for it to appear.
    """
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    database = shared / "live-template.sqlite3"
    try:
        os.close(os.open(shared / "live-template.lock", os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        deadline = time.monotonic() + 120
        while not database.exists():
            assert time.monotonic() < deadline, "another worker never made the template database"
            time.sleep(0.05)
    else:
        os.replace(migrated_database(tmp_path_factory.mktemp("live-db")), database)
    return database


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


@pytest.fixture(scope="module")
def module_server(tmp_path_factory, template_db, isolated_redis_keys):
    """One uvicorn shared by the tests of a module that neither stop it nor change its users."""
    workdir = tmp_path_factory.mktemp("module-server")
    with LiveServer(workdir, template_db, isolated_redis_keys) as server:
        yield server
