"""Real server processes for end-to-end tests: uvicorn (or runserver) on 127.0.0.1, a free port.

The servers of one working directory (one test) share a throwaway, migrated SQLite database, as
the processes of one deployment share theirs (sign-in sessions live there), so a test never
touches a developer's database; they share REDIS_URL (under the test run's key prefix) when it
is set.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from websockets.asyncio.client import connect

from tests.users import USERS

PROJECT_DIR = Path(__file__).resolve().parent.parent

# One process for both steps: each Django start costs about a second of CPU.
MIGRATE_AND_CREATE_USERS = f"""
from django.contrib.auth import get_user_model
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
for name, password in {USERS!r}.items():
    get_user_model().objects.create_user(username=name, password=password)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database: Path, redis_key_prefix: str | None, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_ENV_FILE": "",  # the environment only, never a developer's .env
        "DJANGO_SETTINGS_MODULE": "tests.live_server_settings",  # the project's, hashing fast
        "DJANGO_DEBUG": "off",
        "DJANGO_SECURE_SSL_REDIRECT": "off",  # plain HTTP on loopback, no TLS proxy in front
        "DJANGO_SECRET_KEY": "live-server-tests-secret-key-" + "x" * 32,
        "DATABASE_URL": f"sqlite:///{database}",
        "PYTHONUNBUFFERED": "1",
        # The suite signs the same users in hundreds of times a minute, on servers that share
        # the run's Redis: the sign-in throttles are tested in-process (test_sign_in_throttle.py).
        "SIGN_IN_RATE_PER_USERNAME": "100000/min",
        "SIGN_IN_RATE_PER_ADDRESS": "100000/min",
        "TOKEN_REFRESH_RATE_PER_ADDRESS": "100000/min",
        # Hundreds of sockets per user and bursts of messages, likewise: test_limits.py sets its
        # own limits on the servers it starts.
        "WS_MAX_CONNECTIONS_PER_USER": "100000",
        "WS_MESSAGE_RATE": "100000",
        "WS_MESSAGE_BURST": "100000",
        **extra,
    }
    if redis_key_prefix:
        env["REDIS_KEY_PREFIX"] = redis_key_prefix
    return env


def migrated_database(directory: Path) -> Path:
    """A SQLite database with the schema and the users in USERS."""
    database = directory / "template.sqlite3"
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", MIGRATE_AND_CREATE_USERS],
        cwd=PROJECT_DIR,
        env=server_env(database, None),
        check=True,
        capture_output=True,
    )
    return database


class LiveServer:
    """One server process. Use as a context manager; it is stopped by its pid on exit."""

    def __init__(
        self, workdir: Path, template_db: Path, redis_key_prefix=None, kind="uvicorn", **env
    ):
        self.port = free_port()
        self.kind = kind
        self.log_path = workdir / f"{kind}-{self.port}.log"
        database = workdir / "db.sqlite3"
        if not database.exists():
            shutil.copy(template_db, database)
        self.env = server_env(database, redis_key_prefix, **env)
        self.process = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def websocket(self, path="/ws/chat/lobby/", *, query="", subprotocols=None, **options):
        """A `websockets` client connection (`async with server.websocket(...) as ws:`).

        `query` and `subprotocols` as tests.credentials gives them; `options` go to `connect()`.
        """
        url = f"{self.ws_url}{path}?{query}" if query else f"{self.ws_url}{path}"
        return connect(url, subprotocols=subprotocols, **options)

    def command(self) -> list[str]:
        if self.kind == "runserver":
            return [
                sys.executable,
                "manage.py",
                "runserver",
                f"127.0.0.1:{self.port}",
                "--noreload",
            ]
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            # As README.md serves it: frames over the limit are refused by uvicorn (close 1009).
            "--ws-max-size",
            self.env.get("WS_MAX_FRAME_BYTES") or str(settings.WS_MAX_FRAME_BYTES),
        ]

    def __enter__(self):
        self.log = self.log_path.open("ab")  # appends: a restarted server's log follows the first
        self.process = subprocess.Popen(
            self.command(), cwd=PROJECT_DIR, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.wait_until_listening()
        return self

    def __exit__(self, *exc_info):
        self.stop()
        self.log.close()

    def restart(self):
        """Stop the process, then start a new one on the same port, database and settings."""
        self.__exit__(None, None, None)
        self.__enter__()

    def wait_until_listening(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"server not listening after {timeout}s:\n{self.output()}")

    def stop(self, timeout=10.0) -> float:
        """SIGTERM, then wait; returns the seconds the process took to exit (kills it if stuck)."""
        if self.process.poll() is not None:
            return 0.0
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return time.monotonic() - started

    def execute_sql(self, sql: str, params=()) -> None:
        """Run SQL on this server's database from the test process, as another process would:
        none of the server's model signals fire."""
        database = self.env["DATABASE_URL"].removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(database)) as db, db:
            db.execute(sql, params)

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def post(self, path: str, payload=None, bearer: str | None = None):
        """POST JSON; returns (status, response headers, parsed body)."""
        headers = {"Content-Type": "application/json"}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        request = urllib.request.Request(  # noqa: S310 (an http:// URL on loopback)
            self.http_url + path, json.dumps(payload or {}).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, response.headers, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.headers, json.loads(error.read() or b"null")

    def post_json(self, path: str, payload=None, bearer: str | None = None):
        """POST JSON; returns (status, parsed body)."""
        status, _, body = self.post(path, payload, bearer)
        return status, body

    def access_token(self, username="alice") -> str:
        status, body = self.post_json(
            "/api/token/", {"username": username, "password": USERS[username]}
        )
        assert status == 200, body
        return body["access"]
