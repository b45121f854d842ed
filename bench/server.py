"""The server under test: started here (uvicorn, one worker, 127.0.0.1) or already running.

Its processes (the server, manage.py) run in the baked project's directory, with this process's
interpreter (the project's environment) and the directory that holds the `bench` package on
PYTHONPATH, so that they import both the project's `config` and `bench.asgi`.

A started server gets a fresh, migrated SQLite database of its own (or the DATABASE_URL given),
Redis when REDIS_URL is set (under a key prefix of its own, deleted afterwards), and is stopped by
its pid. Its CPU time and RSS are read from /proc.
"""

import contextlib
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

# The directory that holds the `bench` package: the template's root.
BENCH_ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# Run in the project's environment by `manage.py shell`: create (or delete) the benchmark's users.
CREATE_USERS = """
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
User = get_user_model()
password = make_password({password!r})  # hashed once: hashing is slow by design
for name in {names!r}:
    User._default_manager.update_or_create(username=name, defaults=dict(password=password))
"""
# Run the same way: which credential place the project's auth middleware reads.
PRINT_CREDENTIAL_PLACE = """
from bench.asgi import served_auth_middleware
print(served_auth_middleware().credential.place)
"""
DELETE_USERS = """
from django.contrib.auth import get_user_model
get_user_model()._default_manager.filter(username__in={names!r}).delete()
"""


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (sockets are files); return it."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def with_bench_on_path(env) -> dict[str, str]:
    """`env` with BENCH_ROOT first on PYTHONPATH."""
    paths = [str(BENCH_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (utime and stime in /proc/<pid>/stat)."""
    # The command name (field 2) may contain spaces; the fields after its ")" do not.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (/proc/<pid>/statm, in pages)."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE


class Server:
    """A server to benchmark: its base URLs and, when known, its pid (for CPU and memory)."""

    def __init__(self, http_url: str, pid: int | None):
        self.http_url = http_url.rstrip("/")
        self.ws_url = "ws" + self.http_url.removeprefix("http")
        self.pid = pid

    def cpu_seconds(self) -> float | None:
        return cpu_seconds(self.pid) if self.pid else None

    def rss_bytes(self) -> int | None:
        return rss_bytes(self.pid) if self.pid else None


class StartedServer(Server):
    """`uvicorn bench.asgi:application` in a subprocess; a context manager that stops it."""

    def __init__(
        self, project: Path, env: dict[str, str], log_level: str, log_path: Path | None = None
    ):
        super().__init__(f"http://127.0.0.1:{free_port()}", None)
        self.project = project
        self.env = env
        self.log_level = log_level
        self.log_path = log_path  # None: a temporary file, shown only if the server fails to start
        self.process = None

    def __enter__(self):
        port = self.http_url.rpartition(":")[2]
        command = [
            *(sys.executable, "-m", "uvicorn", "bench.asgi:application"),
            *("--host", "127.0.0.1", "--port", port, "--log-level", self.log_level),
            "--no-access-log",
        ]
        self.log = self.log_path.open("a+b") if self.log_path else tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            command,
            cwd=self.project,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=raise_fd_limit,  # thousands of open sockets in one process
        )
        self.pid = self.process.pid
        self.wait_until_listening()
        return self

    def __exit__(self, *exc_info):
        stop(self.process)
        self.log.close()

    def wait_until_listening(self):
        port = int(self.http_url.rpartition(":")[2])
        wait_until_listening(self.process, port, self.output)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


def stop(process, timeout=15.0) -> None:
    """SIGTERM to a process the benchmark started, then wait (killing it if it hangs)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_listening(process, port: int, output, timeout=30.0) -> None:
    """Wait until something listens on loopback `port`; fail with `output()` if `process` exits
    first or nothing listens within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited early:\n{output()}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.2),
        ):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{process.args[0]} is not listening after {timeout}s:\n{output()}")


class Environment:
    """The settings every started server shares: database, Redis key prefix, benchmark users.

    `database_url`: None for a fresh SQLite database of the benchmark's own; "" to use the
    environment as it is (a server that is already running, on the project's settings and .env).
    A context manager: on exit it deletes what it created (the temporary database, or else the
    users; the Redis keys under its prefix).
    """

    def __init__(self, project: Path, users: dict[str, str], database_url: str | None):
        self.project = project
        self.users = users
        self.database_url = database_url
        self.ambient = database_url == ""
        self.redis_url = os.environ.get("REDIS_URL", "")
        base_prefix = os.environ.get("REDIS_KEY_PREFIX", project.name)
        self.redis_key_prefix = f"{base_prefix}:bench-{secrets.token_hex(6)}"
        # One key for every server started: tokens from one are valid on the next.
        self.secret_key = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
        self.directory = None

    def __enter__(self):
        if self.database_url is None:
            self.directory = Path(tempfile.mkdtemp(prefix="ws-bench-"))
            self.database_url = f"sqlite:///{self.directory / 'db.sqlite3'}"
        if not self.ambient:  # a running server's database is its operator's to migrate
            self.manage("migrate", "--noinput")
        self.manage_shell(CREATE_USERS.format(password=self.password, names=list(self.users)))
        return self

    def __exit__(self, *exc_info):
        if self.directory is not None:
            shutil.rmtree(self.directory)
        else:
            self.manage_shell(DELETE_USERS.format(names=list(self.users)))
        if self.redis_url and not self.ambient:
            delete_redis_keys(self.redis_url, self.redis_key_prefix)

    @property
    def password(self) -> str:
        # One password for every benchmark user: the same hash is stored for all.
        return next(iter(self.users.values()))

    def server_env(self) -> dict[str, str]:
        env = {
            **with_bench_on_path(os.environ),
            "DJANGO_ENV_FILE": "",  # the environment only, never a developer's .env
            "DJANGO_DEBUG": "off",
            "DJANGO_SECURE_SSL_REDIRECT": "off",  # plain HTTP on loopback
            "DJANGO_SECRET_KEY": self.secret_key,
            "DATABASE_URL": self.database_url,
            # Thousands of tickets per minute for a handful of users: the throttle still runs
            # (its cache read and write are part of the cost measured), but never refuses.
            "WS_TICKET_THROTTLE_RATE": "100000000/min",
            # The same for the WebSocket limits: one socket sends every fan-out message, and a
            # handful of users hold thousands of sockets. Each is still checked.
            "WS_MESSAGE_RATE": "100000000",
            "WS_MESSAGE_BURST": "100000000",
            "WS_MAX_CONNECTIONS_PER_USER": "100000000",
            "JWT_ACCESS_TOKEN_LIFETIME": "3600",
            "PYTHONUNBUFFERED": "1",
        }
        if self.redis_url:
            env["REDIS_KEY_PREFIX"] = self.redis_key_prefix
        return env

    def manage(self, *args: str) -> str:
        """Run manage.py in the project; its standard output."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.project,
            env=with_bench_on_path(os.environ) if self.ambient else self.server_env(),
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def manage_shell(self, code: str) -> str:
        return self.manage("shell", "-c", code)

    def credential_place(self) -> str:
        """Where the project's auth middleware takes a handshake's credential from."""
        return self.manage_shell(PRINT_CREDENTIAL_PLACE).strip().splitlines()[-1]


def delete_redis_keys(url: str, prefix: str) -> None:
    """Delete exactly the keys under `prefix` (SCAN, never FLUSHDB: the database may be shared)."""
    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
    finally:
        client.close()
