"""WebSocket benchmark: the cost of a baked project's auth and chat, as ratios to bare baselines
served by the same server in the same run.

It runs in the baked project's environment (its .venv, after `uv sync`), on the project given by
--project (default: the current directory), whose auth mode it reads from the project's own auth
middleware. From the baked project's directory:

    uv run python TEMPLATE/bench/ws_bench.py              # the full run: a few minutes
    uv run python TEMPLATE/bench/ws_bench.py --quick      # a few seconds, small numbers
    uv run python TEMPLATE/bench/ws_bench.py --url http://127.0.0.1:8000 --server-pid 1234

By default it starts `uvicorn bench.asgi:application` itself (one worker, 127.0.0.1, a free port) on
a fresh SQLite database, or on DATABASE_URL when that is set, and on Redis when REDIS_URL is set
(under a key prefix of its own, deleted afterwards); it stops the server by its pid. With --url it
targets a server already running `bench.asgi:application` (the baselines live there; TEMPLATE on its
PYTHONPATH) and creates its users with manage.py in this environment, so DATABASE_URL must be the
server's; a ticket-mode server needs a WS_TICKET_THROTTLE_RATE high enough for thousands of tickets.
--server-pid lets it read that server's CPU time and memory; memory is then measured on that
warmed-up server, whose freed memory is reused, so it reads low.

Scenarios, interleaved in rounds; each row is a median over the rounds and its ratio is the
median of the per-round ratios to its baseline:

- connect + one echo + close, `--concurrency` at a time: the no-auth baseline (a bare echo
  consumer); the same consumer behind the project's auth middleware (the handshake cost of this
  auth mode alone; credentials such as tickets are fetched before the clock starts); the
  project's chat route (auth, session and room groups); in the ticket mode, the full ticket flow
  (POST /api/ws-ticket/ + connect), whose server CPU is compared to the no-auth handshake's.
- `--burst` simultaneous connects, on the baseline and on the chat route, each socket then sending
  one message and waiting for it to come back: errors by kind, messages lost.
- chat fan-out: `--fanout-sockets` sockets in one room, `--fanout-messages` messages sent as fast
  as the client can, until all are delivered or none arrives for a while; the project's
  ChatConsumer against a bare Channels consumer doing the same group_send through the same
  channel layer.
- memory: server RSS per idle open socket, `--memory-sockets` of them, authenticated chat
  sockets against bare echo sockets, each on a freshly started server.
- presence and history (bench/sync.py; `--sync-only` runs only these): fan-out with them on
  against a second server with them off; `--resume-sockets` sockets resuming `--resume-missed`
  missed messages at once, lost and duplicated counted; on Redis, a room's bytes after
  `--history-messages` messages.

Every message a scenario sent and did not get back is counted in the "lost" column; a run in
which any scenario lost a message ends with exit status 1 and says which.
"""

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sys
from collections import Counter
from pathlib import Path

# Run as a script, Python puts bench/ first on sys.path: put the directory that holds it there
# instead, so that `bench.*` is imported the way the server imports bench.asgi.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

try:
    import redis  # noqa: F401
    import websockets  # noqa: F401
except ImportError as error:
    sys.exit(
        f"{error}. Run the benchmark in the baked project's environment, from its directory:\n"
        f"    uv sync && uv run python {Path(__file__).resolve()}"
    )

from bench import scenarios, sync  # noqa: E402
from bench.client import Credential, Users  # noqa: E402
from bench.credentials import MODE_BY_CREDENTIAL_PLACE, credentials_for  # noqa: E402
from bench.proxy import ProxiedServer  # noqa: E402
from bench.report import (  # noqa: E402
    Progress,
    Row,
    failures_text,
    machine,
    median,
    rate_row,
    ratios,
    table,
)
from bench.scale import ScaleBenchmark  # noqa: E402
from bench.server import Environment, Server, StartedServer, raise_fd_limit  # noqa: E402

FULL = {
    "rounds": 5,
    "connections": 1000,
    "concurrency": 50,
    "burst": 1000,
    "fanout_sockets": 100,
    "fanout_messages": 1000,
    "memory_sockets": 5000,
    "users": 8,
    # --scale (bench/scale.py)
    "scale_sockets": 10000,
    "latency_sockets": 1000,
    "latency_seconds": 10,
    "latency_room": 10,
    "resume_sockets": 1000,
    "resume_rooms": 10,
    "resume_missed": 100,
    "history_messages": 2000,
}
QUICK = {
    "rounds": 2,
    "connections": 60,
    "concurrency": 10,
    "burst": 100,
    "fanout_sockets": 10,
    "fanout_messages": 50,
    "memory_sockets": 100,
    "users": 3,
    "scale_sockets": 200,
    "latency_sockets": 40,
    "latency_seconds": 3,
    "latency_room": 4,
    "resume_sockets": 50,
    "resume_rooms": 2,
    "resume_missed": 10,
    "history_messages": 250,
}
# --through-proxy: these scenarios again through nginx, each against the same one direct.
PROXY_CONNECTS = ["proxy.connect.noauth", "proxy.connect.chat"]
PROXY_FAN_OUTS = ["proxy.fanout.chat"]


def proxy_rows(fan: str) -> list[tuple[str, str, str, str]]:
    through = "through nginx (srv CPU: server + nginx)"
    return [
        ("proxy.connect.noauth", f"{through}: connect+echo+close, no auth", "connect.noauth", ""),
        ("proxy.connect.chat", f"{through}: connect+echo+close, chat route", "connect.chat", ""),
        ("proxy.fanout.chat", f"{through}: {fan}, ChatConsumer", "fanout.chat", ""),
    ]


ROOMS = 50  # the chat route's sockets are spread over this many rooms
LIMITS = ">= 0.95x"  # what realtime.limits may cost, on the handshake and on fan-out
ECHO = "/bench/echo/"
AUTH_ECHO = "/bench/auth-echo/"


async def no_credentials(count: int) -> list[Credential]:
    return [Credential()] * count


def chat_path(room: str) -> str:
    return f"/ws/chat/{room}/"


def bare_chat_path(room: str) -> str:
    return f"/bench/chat/{room}/"


def without_limits_path(room: str) -> str:
    """The project's chat route with its limits off (bench/asgi.py)."""
    return f"/bench/chat-without-limits/{room}/"


class Benchmark:
    """Runs the scenarios in rounds and turns their samples into table rows."""

    def __init__(
        self,
        server,
        auth_mode: str,
        users: Users,
        options,
        progress: Progress,
        fresh_server,
        proxy=None,
    ):
        self.server = server
        self.proxy = proxy  # the same server through nginx (--through-proxy), or None
        self.auth_mode = auth_mode
        self.users = users
        self.options = options
        self.progress = progress
        self.fresh_server = fresh_server  # () -> a context manager giving a just-started server
        self.samples = {}
        self.sync = None  # bench.sync.Sync: the presence and history scenarios

    async def credentials(self, count: int, server=None) -> list[Credential]:
        await self.users.log_in()
        return await credentials_for(
            self.auth_mode, (server or self.server).http_url, self.users.tokens(count)
        )

    def record(self, key: str, sample: scenarios.Sample) -> None:
        self.samples.setdefault(key, []).append(sample)

    async def run(self) -> list[Row]:
        await self.users.log_in()
        connects = ["connect.noauth", "connect.auth", "connect.chat", "connect.nolimits"]
        if self.auth_mode == "ticket":
            connects.append("ticket_flow")
        fan_outs = ["fanout.bare", "fanout.chat", "fanout.nolimits"]
        if self.proxy:
            connects += PROXY_CONNECTS
            fan_outs += PROXY_FAN_OUTS
        for number in range(self.options.rounds):
            round_name = f"round {number + 1}/{self.options.rounds}"
            if self.sync:
                await self.sync.round(number, round_name)
            if self.options.sync_only:
                continue
            # A different order each round, so that no route always runs first (or last).
            shift = number % len(connects)
            for key in connects[shift:] + connects[:shift]:
                self.record(key, await self.connect(key, round_name))
            for key in ["burst.noauth", "burst.chat"][:: 1 if number % 2 else -1]:
                self.record(key, await self.burst(key, round_name))
            for key in fan_outs[:: 1 if number % 2 else -1]:
                self.record(key, await self.fan_out(key, round_name, number))
        if self.sync:
            await self.sync.after_rounds()
        for key in ["memory.noauth", "memory.chat"] * (not self.options.sync_only):
            self.record(key, await self.memory(key))
        self.progress.clear()
        return self.rows()

    def server_for(self, key: str):
        """The server a scenario reaches: through the proxy for the `proxy.` keys."""
        return self.proxy if key.startswith("proxy.") else self.server

    async def connect(self, key: str, round_name: str) -> scenarios.Sample:
        server = self.server_for(key)
        count, base = self.options.connections, server.ws_url
        key = key.removeprefix("proxy.")
        concurrency = self.options.concurrency
        phase = f"{round_name} {key}"
        if key == "ticket_flow":
            await self.users.log_in()
            urls, tokens = [base + AUTH_ECHO] * count, self.users.tokens(count)
            progress = self.progress.start(phase, count)
            return await scenarios.ticket_flow(self.server, urls, tokens, concurrency, progress)
        if key == "connect.noauth":
            urls, credentials = [base + ECHO] * count, [Credential()] * count
        elif key == "connect.auth":
            urls, credentials = [base + AUTH_ECHO] * count, await self.credentials(count)
        else:
            route = without_limits_path if key == "connect.nolimits" else chat_path
            urls = [base + route(f"bench-{i % ROOMS}") for i in range(count)]
            credentials = await self.credentials(count)
        progress = self.progress.start(phase, count)
        return await scenarios.connect_echo_close(server, urls, credentials, concurrency, progress)

    async def burst(self, key: str, round_name: str) -> scenarios.Sample:
        count, base = self.options.burst, self.server.ws_url
        if key == "burst.noauth":
            urls, credentials = [base + ECHO] * count, [Credential()] * count
        else:
            urls = [base + chat_path(f"bench-{i % ROOMS}") for i in range(count)]
            credentials = await self.credentials(count)
        progress = self.progress.start(f"{round_name} {key}", count)
        chat = key == "burst.chat"
        return await scenarios.burst(self.server, urls, credentials, progress, chat)

    async def fan_out(self, key: str, round_name: str, number: int) -> scenarios.Sample:
        count, messages = self.options.fanout_sockets, self.options.fanout_messages
        room = f"bench-fanout-{number}-{secrets.token_hex(4)}"
        server = self.server_for(key)
        if key == "fanout.bare":
            urls = [server.ws_url + bare_chat_path(room)] * count
            make_credentials = no_credentials
        else:
            route = without_limits_path if key == "fanout.nolimits" else chat_path
            urls = [server.ws_url + route(room)] * count
            make_credentials = self.credentials
        progress = self.progress.start(f"{round_name} {key}", messages)
        return await scenarios.fan_out(server, urls, make_credentials, messages, progress)

    async def memory(self, key: str) -> scenarios.Sample:
        count = self.options.memory_sockets
        with self.fresh_server() as server:
            if key == "memory.noauth":
                urls = [server.ws_url + ECHO] * count
                make_credentials = no_credentials
            else:
                urls = [server.ws_url + chat_path(f"bench-idle-{i % ROOMS}") for i in range(count)]

                async def make_credentials(n):
                    return await self.credentials(n, server)

            # Warm up: the first connects import and allocate what every later one reuses.
            warm_up = min(count, 20)
            await scenarios.close_all(
                await scenarios.open_all(urls[:warm_up], make_credentials, Counter())
            )
            progress = self.progress.start(f"{key} ({count} idle sockets)", count)
            return await scenarios.idle_memory(server, urls, make_credentials, 500, progress)

    def rows(self) -> list[Row]:
        options = self.options
        burst = f"{options.burst} simultaneous connects"
        fan = f"fan-out {options.fanout_sockets}x{options.fanout_messages}"
        # (key, label, the key of its baseline, the target)
        specs = [
            ("connect.noauth", "connect+echo+close: no auth (baseline)", None, ""),
            (
                "connect.auth",
                f"connect+echo+close: {self.auth_mode} auth, same consumer",
                "connect.noauth",
                ">= 0.85x",
            ),
            (
                "connect.chat",
                "connect+echo+close: chat route (auth+session+room)",
                "connect.noauth",
                "",
            ),
            ("connect.nolimits", "connect+echo+close: chat, limits off", "connect.noauth", ""),
            ("limits.connect", "limits' cost: chat route / limits off", "connect.nolimits", LIMITS),
            (
                "ticket_flow",
                "full ticket flow: POST + connect+echo+close",
                "connect.noauth",
                "CPU <= 2.5x",
            ),
            ("burst.noauth", f"{burst}: no auth", None, ""),
            ("burst.chat", f"{burst}: chat route", "burst.noauth", "0 errors"),
            ("fanout.bare", f"{fan}: bare Channels consumer", None, ""),
            ("fanout.chat", f"{fan}: ChatConsumer", "fanout.bare", ">= 0.95x"),
            ("fanout.nolimits", f"{fan}: ChatConsumer, limits off", "fanout.bare", ""),
            ("limits.fanout", "limits' cost: fan-out / limits off", "fanout.nolimits", LIMITS),
            *proxy_rows(fan),
            ("memory.noauth", "memory per idle socket: no auth echo", None, ""),
            ("memory.chat", "memory per idle socket: authenticated chat", "memory.noauth", ""),
        ]
        # The limits' rows: the chat route's own samples, against those with the limits off.
        samples = {**self.samples}
        for key, measured in (("limits.connect", "connect.chat"), ("limits.fanout", "fanout.chat")):
            if measured in samples:
                samples[key] = samples[measured]
        return [
            (memory_row if key.startswith("memory") else rate_row)(
                key, label, samples[key], samples.get(baseline), target
            )
            for key, label, baseline, target in specs
            if key in samples
        ] + (self.sync.rows(self.samples, options, rate_row) if self.sync else [])


def memory_row(key, label, samples, baselines=None, target="") -> Row:
    def per_socket(sample):
        if sample.extra["rss_before"] is None:
            return None  # a server whose pid we do not know
        return (sample.extra["rss_after"] - sample.extra["rss_before"]) / 1024 / sample.count

    value = median(map(per_socket, samples))
    row = Row(
        key,
        label,
        unit=f"KiB ({samples[0].count} open)",
        value=value,
        target=target,
        failures=failures_text(samples),
    )
    if baselines is not None and value is not None:
        row.ratio = median(ratios(map(per_socket, samples), map(per_socket, baselines)))
    return row


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.partition("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--project",
        type=Path,
        default=Path.cwd(),
        help="the baked project's directory, default the current one",
    )
    parser.add_argument("--quick", action="store_true", help="small numbers: a few seconds (CI)")
    parser.add_argument(
        "--sync-only", action="store_true", help="only the presence and history scenarios"
    )
    parser.add_argument("--url", help="a server already running bench.asgi:application")
    parser.add_argument("--server-pid", type=int, help="its pid, to read CPU time and RSS")
    for name, default in FULL.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=int, help=f"default {default}, {QUICK[name]} with --quick")
    parser.add_argument(
        "--through-proxy",
        action="store_true",
        help="also run the handshakes and the chat fan-out through nginx with the project's\n"
        "deploy/nginx.conf (rewritten for loopback by its tests/nginx_loopback.py), each\n"
        "against the same scenario direct",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="instead of the scenarios above, the project at scale (bench/scale.py):\n"
        "--scale-sockets open on one process (RSS per socket, handshakes with them open),\n"
        "delivery latency over two processes on Redis; each against a bare consumer",
    )
    parser.add_argument("--server-log-level", default="warning", help="uvicorn's, default warning")
    parser.add_argument("--server-log", type=Path, help="append the started servers' output here")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    options = parser.parse_args(argv)
    options.project = options.project.resolve()
    if not (options.project / "manage.py").is_file():
        parser.error(f"{options.project} is not a baked project: it has no manage.py (--project)")
    for name, value in (QUICK if options.quick else FULL).items():
        if getattr(options, name) is None:
            setattr(options, name, value)
    return options


def describe_services(options) -> str:
    if options.url:
        return f"a running server at {options.url}"
    if os.environ.get("REDIS_URL"):
        # As the project's settings choose it (CHANNEL_LAYER, default pubsub).
        kind = os.environ.get("CHANNEL_LAYER", "pubsub")
        layer = f"Redis ({'Pub/Sub' if kind == 'pubsub' else kind} channel layer, RedisCache)"
    else:
        layer = "embedded (InMemoryChannelLayer, LocMemCache)"
    database = os.environ.get("DATABASE_URL", "sqlite").partition(":")[0]
    return f"uvicorn, 1 worker, {layer}, database {database}"


def main(argv=None) -> None:
    options = parse_args(argv)
    fd_limit = raise_fd_limit()
    progress = Progress()
    password, run_id = secrets.token_urlsafe(16), secrets.token_hex(4)
    users = {f"bench-{run_id}-{i}": password for i in range(options.users)}
    database_url = "" if options.url else os.environ.get("DATABASE_URL")
    progress.start("preparing the database and users", 1)
    with Environment(options.project, users, database_url) as environment:
        auth_mode = MODE_BY_CREDENTIAL_PLACE[environment.credential_place()]

        def started_server():
            return StartedServer(
                options.project,
                environment.server_env(),
                options.server_log_level,
                options.server_log,
            )

        if options.url:
            server = Server(options.url, options.server_pid)
            server_context, fresh_server = contextlib.nullcontext(server), lambda: server_context
        else:
            server_context, fresh_server = started_server(), started_server
        # Presence and history off, for the cost of having them on (bench/sync.py).
        off_env = {**environment.server_env(), "CHAT_PRESENCE": "off", "CHAT_HISTORY": "off"}
        off_context = (
            contextlib.nullcontext()
            if options.url or options.scale
            else StartedServer(
                options.project, off_env, options.server_log_level, options.server_log
            )
        )
        # The resume storms on a server of their own: what 1,000 sockets leave behind in a
        # process (the in-memory layer's channels, expiring entries) stays out of the others.
        unused = options.url or options.scale
        resume_context = contextlib.nullcontext() if unused else started_server()
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(server_context)
            off_server = stack.enter_context(off_context)
            resumes = stack.enter_context(resume_context)
            proxy = None
            if options.through_proxy:
                proxy = stack.enter_context(ProxiedServer(options.project, server))
            benchmark = Benchmark(
                server,
                auth_mode,
                Users(server.http_url, users),
                options,
                progress,
                fresh_server,
                proxy,
            )
            prefix = "" if options.url else environment.redis_key_prefix
            benchmark.sync = sync.Sync(
                benchmark, off_server, environment.redis_url, prefix, resumes or server
            )
            if options.scale:
                benchmark = ScaleBenchmark(
                    auth_mode,
                    benchmark.credentials,
                    options,
                    progress,
                    fresh_server,
                    on_redis=bool(environment.redis_url),
                )
            rows = run(benchmark.run())
    print_report(rows, benchmark, options, fd_limit)
    losing = [row for row in rows if row.lost]
    duplicating = [row for row in rows if "duplicated" in row.failures]
    if losing or duplicating:
        for row in losing:
            print(f"FAILED: {row.label} lost {row.lost} messages", file=sys.stderr)
        for row in duplicating:
            print(f"FAILED: {row.label} duplicated messages ({row.failures})", file=sys.stderr)
        sys.exit(1)


def run(coroutine):
    """asyncio.run, on uvloop when it is installed (uvicorn[standard] brings it): a faster
    client leaves more of the machine's time to the server under test."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def print_report(rows, benchmark, options, fd_limit) -> None:
    about = machine()
    mode = benchmark.auth_mode
    print(f"WebSocket benchmark of {options.project.name}, auth mode {mode}: ", end="")
    print(describe_services(options))
    for name, value in about.items():
        print(f"  {name}: {value}")
    print(
        f"  rounds {options.rounds}; {options.connections} connects per row and round at "
        f"concurrency {options.concurrency}; {options.users} users; open-file limit raised to "
        f"{fd_limit} (client and server)"
    )
    print()
    print(table(rows))
    print()
    print(
        "ratio: to the row's baseline (the row above it without one), median of per-round "
        "ratios. srv CPU: the server process's user+system time per operation (connection, "
        "message delivered)."
    )
    busy = max(
        (
            sample.client_busy
            for key, samples in benchmark.samples.items()
            if not key.startswith("memory")
            for sample in samples
        ),
        default=0,
    )
    print(
        f"The client process was on the CPU {busy:.0%} of a measurement's time at most"
        + (
            ": near 100%, it may have limited those rates; server CPU per operation does not"
            " depend on it."
            if busy > 0.8
            else "."
        )
    )
    if options.json:
        options.json.write_text(
            json.dumps(
                {"mode": mode, "machine": about, "rows": [vars(row) for row in rows]},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
