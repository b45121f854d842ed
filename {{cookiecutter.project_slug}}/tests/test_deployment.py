"""The production topology, run for real: nginx with deploy/nginx.conf in front of two gunicorn
instances started with deploy/gunicorn.conf.py, on Redis (a redis-server of this module's own, so
that it can be stopped) and on PostgreSQL when DATABASE_URL names one (a database of its own,
dropped afterwards), SQLite otherwise.

nginx's configuration is the shipped file with its listen address, upstream servers and file paths
pointed at this test's. The topology starts once for the module; each test checks one property
through the proxy. Skips without nginx or redis-server, and fails instead with REQUIRE_SERVICES=1.
"""

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit, urlunsplit

import jwt
import pytest
from django.conf import settings
from websockets.exceptions import InvalidStatus

from tests.credentials import live_ws_credentials_for
{%- if cookiecutter.demo_page %}
from tests.deployment_demo_page import (  # noqa: F401 (a test of this module's topology)
    test_demo_page_chats_through_the_proxy_and_survives_a_rolling_restart,
)
{%- endif %}
from tests.live_server import MIGRATE_AND_CREATE_USERS, PROJECT_DIR, LiveServer, free_port
from tests.nginx_loopback import nginx_config
from tests.required_services import services_required
from tests.throwaway_redis import REDIS_SERVER, ThrowawayRedis

pytestmark = pytest.mark.server

NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None
)
CLIENTS = 200
# nginx's default proxy_read_timeout, which an idle socket must outlive.
NGINX_DEFAULT_TIMEOUT_SECONDS = 60
# A cached access token with less than this left is replaced.
TOKEN_MARGIN_SECONDS = 60
# Guards against a hang only.
HANG_GUARD_SECONDS = 120


def require(what, available):
    if not available:
        message = f"needs {what}"
        if services_required():
            pytest.fail(f"{message} (REQUIRE_SERVICES is set)")
        pytest.skip(message)


def expires_at(token):
    return jwt.decode(token, options={"verify_signature": False})["exp"]


class Endpoint(LiveServer):
    """LiveServer's HTTP and WebSocket helpers, aimed at a port something else serves; a user's
    access token is reused while it has a minute or more left (the module outlasts a token)."""

    def __init__(self, port):
        self.port = port
        self.tokens = {}

    def access_token(self, username="alice"):
        token = self.tokens.get(username)
        if token is None or expires_at(token) < time.time() + TOKEN_MARGIN_SECONDS:
            token = self.tokens[username] = super().access_token(username)
        return token

    def get(self, path):
        try:
            with urllib.request.urlopen(self.http_url + path, timeout=10) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


class Process:
    """A command started in PROJECT_DIR, its output in a file; stopped by its pid."""

    def __init__(self, command, env, log_path, port):
        self.command, self.env, self.log_path, self.port = command, env, log_path, port
        self.process = None

    def start(self):
        """Start, and return once it answers: /healthz for a server (gunicorn listens before its
        workers have loaded the app), a connection for nginx."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=PROJECT_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command[0]} exited:\n{self.output()}")
            if self.answers():
                return
            time.sleep(0.1)
        raise RuntimeError(f"nothing answers on {self.port}:\n{self.output()}")

    def answers(self):
        if self.command[0] == NGINX:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return True
            return False
        with contextlib.suppress(OSError):
            url = f"http://127.0.0.1:{self.port}/healthz"
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status == 200
        return False

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def output(self):
        return self.log_path.read_text(errors="replace")


def fetch_text(url):
    """(status, body as text) of a GET, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def own_database(workdir):
    """A DATABASE_URL of this module's own, and a function that drops it (PostgreSQL only)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{workdir / 'deploy.sqlite3'}", lambda: None
    import psycopg

    name = f"deploy_{uuid.uuid4().hex[:12]}"
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunsplit(urlsplit(url)._replace(path=f"/{name}")), drop


class Topology:
    def __init__(self, workdir, redis, database_url):
        self.workdir = workdir
        self.redis = redis
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "REDIS_", "DATABASE_", "JWT_", "WS_", "PROMETHEUS_"))
        }
        env.update(
            DJANGO_ENV_FILE="",
            DJANGO_DEBUG="off",
            DJANGO_SECURE_SSL_REDIRECT="off",  # plain HTTP on loopback: no TLS in front
            DJANGO_SECRET_KEY="deployment-tests-secret-key-" + "x" * 40,
            DATABASE_URL=database_url,
            REDIS_URL=redis.url,
            WS_TICKET_THROTTLE_RATE="100000/min",
            # 200 sockets of one user, signed in again and again: the limits are tested elsewhere.
            WS_MAX_CONNECTIONS_PER_USER="100000",
            WS_MESSAGE_RATE="100000",
            WS_MESSAGE_BURST="100000",
            SIGN_IN_RATE_PER_USERNAME="100000/min",
            SIGN_IN_RATE_PER_ADDRESS="100000/min",
            TOKEN_REFRESH_RATE_PER_ADDRESS="100000/min",
            WEB_CONCURRENCY="1",
            FORWARDED_ALLOW_IPS="127.0.0.1",
            PYTHONUNBUFFERED="1",
        )
        self.env = env
        self.servers = []
        for _ in range(2):
            port, metrics_port = free_port(), free_port()
            server_env = {
                **env,
                "GUNICORN_BIND": f"127.0.0.1:{port}",
                "METRICS_PORT": str(metrics_port),
                "METRICS_BIND": "127.0.0.1",
                "PROMETHEUS_MULTIPROC_DIR": str(workdir / f"metrics-{port}"),
            }
            command = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"]
            server = Process(command, server_env, workdir / f"gunicorn-{port}.log", port)
            server.metrics_port = metrics_port
            self.servers.append(server)
        self.proxy_port = free_port()
        config = nginx_config(
            workdir, self.proxy_port, [s.port for s in self.servers], settings.STATIC_ROOT
        )
        command = [NGINX, "-p", str(workdir), "-c", str(config), "-e", str(workdir / "error.log")]
        self.nginx = Process(
            [*command, "-g", "daemon off;"], env, workdir / "nginx.log", self.proxy_port
        )
        self.proxy = Endpoint(self.proxy_port)

    def prepare_database(self):
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", MIGRATE_AND_CREATE_USERS],
            cwd=PROJECT_DIR,
            env=self.env,
            check=True,
            capture_output=True,
        )

    def collect_static(self):
        """manage.py collectstatic, as the image's build does, for nginx to serve."""
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput"],
            cwd=PROJECT_DIR,
            env=self.env,
            check=True,
            capture_output=True,
        )

    def start(self):
        self.prepare_database()
        self.collect_static()
        for server in self.servers:
            server.start()
        self.nginx.start()

    def stop(self):
        for process in (self.nginx, *self.servers):
            process.stop()

    def metrics(self, server):
        """The text of one gunicorn instance's metrics endpoint."""
        return fetch_text(f"http://127.0.0.1:{server.metrics_port}/metrics")[1]

    def open_sockets(self, server):
        """Sockets open now on one gunicorn instance, from its metrics endpoint."""
        text = self.metrics(server)
        match = re.search(r"^realtime_websockets_open (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    require("nginx (apt-get install nginx)", NGINX)
    require("redis-server on PATH", REDIS_SERVER)
    workdir = tmp_path_factory.mktemp("deployment")
    redis = ThrowawayRedis(workdir)
    redis.start()
    database_url, drop_database = own_database(workdir)
    topology = Topology(workdir, redis, database_url)
    try:
        topology.start()
        yield topology
    finally:
        topology.stop()
        redis.stop()
        drop_database()


async def connect(proxy, room="lobby", username="alice", **options):
    credentials = await asyncio.to_thread(live_ws_credentials_for, proxy, username)
    socket_ = await proxy.websocket(f"/ws/chat/{room}/", **credentials, **options)
    return socket_, credentials


async def chat(sender, receivers, text):
    await sender.send(json.dumps({"message": text}))
    for receiver in receivers:
        async with asyncio.timeout(30):
            while json.loads(await receiver.recv()).get("message") != text:
                pass


async def test_health_endpoints_answer_through_the_proxy(topology):
    assert topology.proxy.get("/healthz") == (200, {"status": "ok"})
    assert topology.proxy.get("/readyz") == (200, {"status": "ok"})


def test_metrics_are_not_served_through_the_proxy(topology):
    for server in topology.servers:  # served, on their own port
        assert "# TYPE realtime_websockets_open gauge" in topology.metrics(server)

    for path in ("/metrics", "/metrics/"):
        status, body = fetch_text(topology.proxy.http_url + path)
        assert status == 404, (path, status)
        assert "realtime_" not in body
        assert "# TYPE" not in body


async def test_chat_crosses_the_two_processes_through_the_proxy(topology):
    sockets = []
    try:
        # nginx hands connections to both processes in turn; enough of them land on each.
        while not all(topology.open_sockets(server) for server in topology.servers):
            assert len(sockets) < 20, "nginx sent every socket to the same process"
            sockets.append((await connect(topology.proxy, "across"))[0])

        await chat(sockets[0], sockets, "across processes")
    finally:
        for websocket in sockets:
            await websocket.close()


@pytest.mark.slow
async def test_an_idle_socket_outlives_nginxs_default_timeout(topology):
    # No client pings: only what the shipped configuration does keeps the socket alive.
    idle, _ = await connect(topology.proxy, "idle", ping_interval=None)
    other, _ = await connect(topology.proxy, "idle", username="bob", ping_interval=None)
    try:
        await asyncio.sleep(NGINX_DEFAULT_TIMEOUT_SECONDS + 5)

        await chat(idle, [idle, other], "still here")
    finally:
        await idle.close()
        await other.close()


async def test_restarting_a_process_under_200_clients_reconnects_every_one(topology):
    closes = []
    connected = asyncio.Semaphore(0)
    stop = asyncio.Event()
    sockets = {}

    async def client(number):
        while not stop.is_set():
            try:
                websocket, _ = await connect(topology.proxy, "crowd", open_timeout=30)
            except Exception:
                await asyncio.sleep(0.2)
                continue
            sockets[number] = websocket
            connected.release()
            await websocket.wait_closed()
            if not stop.is_set():
                closes.append(websocket.close_code)

    async def all_connected():
        for _ in range(CLIENTS):
            await connected.acquire()

    tasks = [asyncio.create_task(client(number)) for number in range(CLIENTS)]
    try:
        async with asyncio.timeout(HANG_GUARD_SECONDS):
            await all_connected()
        restarted = topology.servers[0]
        held = topology.open_sockets(restarted)
        assert held > 0

        await asyncio.to_thread(restarted.stop)
        await asyncio.to_thread(restarted.start)
        async with asyncio.timeout(HANG_GUARD_SECONDS):
            while len(closes) < held:  # noqa: ASYNC110 (the clients append as they see closes)
                await asyncio.sleep(0.1)
            for _ in closes:
                await connected.acquire()

        assert set(closes) == {1012}
        assert len(closes) == held
        await chat(sockets[0], list(sockets.values()), "everyone is back")
    finally:
        stop.set()
        for websocket in list(sockets.values()):
            await websocket.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_readiness_turns_503_while_redis_is_stopped_and_recovers(topology):
    await asyncio.to_thread(topology.redis.stop)
    try:
        status, body = topology.proxy.get("/readyz")
        assert status == 503
        assert {"cache", "channel_layer"} <= set(body["failed"])
        assert topology.proxy.get("/healthz") == (200, {"status": "ok"})
    finally:
        await asyncio.to_thread(topology.redis.start)
    # Each process recovers on its own: ask each, not whichever the proxy picks.
    for server in topology.servers:
        direct = Endpoint(server.port)
        async with asyncio.timeout(HANG_GUARD_SECONDS):
            while direct.get("/readyz")[0] != 200:  # noqa: ASYNC110 (polls the server)
                await asyncio.sleep(0.2)


async def test_no_log_holds_a_credential(topology):
    try:
        websocket, credentials = await connect(topology.proxy, "logged")
    except InvalidStatus as error:
        logs = "".join(server.output()[-3000:] for server in topology.servers)
        raise AssertionError(f"{error}; the servers' logs end with:\n{logs}") from error
    await websocket.close()
    secret = credentials.get("query", "").partition("=")[2] or topology.proxy.access_token()

    access_log = (topology.workdir / "access.log").read_text()
    server_logs = "".join(server.output() for server in topology.servers)

    assert "GET /ws/chat/logged/ HTTP/1.1" in access_log
    assert "?" not in access_log
    assert secret not in access_log
    assert secret not in server_logs


def test_the_proxys_body_limit_is_djangos():
    config = (PROJECT_DIR / "deploy" / "nginx.conf").read_text()
    kibibytes = int(re.search(r"client_max_body_size (\d+)k;", config).group(1))

    assert kibibytes * 1024 == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
