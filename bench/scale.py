"""`ws_bench.py --scale`: the project at scale, each figure against a bare Channels consumer
(bench.asgi's BareChatConsumer: join the room's group, group_send, deliver) on the same channel
layer settings, in the same rounds, each round in the other order.

- Open sockets on one process: `--scale-sockets` authenticated chat sockets (10,000), in rooms of
  IDLE_ROOM_SIZE, on a freshly started server, against as many bare consumer sockets on another:
  the server's RSS growth per idle socket; and on each of those servers the handshake rate
  (connect, one chat message there and back through a room's group, close: `--connections` at
  `--concurrency`) with none of them open, then with all of them open.
- Delivery latency (on Redis only: two server processes must share the layer):
  `--latency-sockets` sockets (1,000) over two freshly started server processes, in rooms of
  `--latency-room` sockets split between the two, each sending one chat message a second for
  `--latency-seconds`, its sends spread evenly over the second; every member of the room must
  receive every message (lost otherwise); p50 and p99 of send-to-receive time, measured by this
  client's clock.
"""

import asyncio
import json
import statistics
import time
from collections import Counter

from bench import scenarios
from bench.client import Credential
from bench.report import Row, failures_text, median, rate_row, ratios
from bench.scenarios import QUIET_SECONDS, Meter, Sample, close_all, open_all

IDLE_ROOM_SIZE = 10
PROBE_ROOMS = 50
BATCH = 500  # sockets opened per batch of fresh credentials (tickets expire: WS_TICKET_TTL)
KINDS = {"bare": "/bench/chat/{room}/", "chat": "/ws/chat/{room}/"}


class ServerGroup:
    """Several servers measured as one: their CPU time summed."""

    def __init__(self, servers):
        self.servers = servers

    def cpu_seconds(self):
        values = [server.cpu_seconds() for server in self.servers]
        return None if None in values else sum(values)


class ScaleBenchmark:
    """The --scale scenarios in rounds; `credentials(count, server)` gives handshake credentials
    of the project's auth mode (no credentials on the bare route)."""

    def __init__(self, auth_mode, credentials, options, progress, fresh_server, on_redis):
        self.auth_mode = auth_mode
        self.credentials = credentials
        self.options = options
        self.progress = progress
        self.fresh_server = fresh_server
        self.on_redis = on_redis
        self.samples = {}

    def make_credentials(self, kind, server):
        async def make(count):
            if kind == "bare":
                return [Credential()] * count
            return await self.credentials(count, server)

        return make

    def record(self, key, sample):
        self.samples.setdefault(key, []).append(sample)

    async def run(self) -> list[Row]:
        for number in range(self.options.rounds):
            round_name = f"round {number + 1}/{self.options.rounds}"
            kinds = ["bare", "chat"][:: 1 if number % 2 else -1]
            for kind in kinds:
                await self.open_sockets(kind, number, round_name)
            if self.on_redis:
                for kind in kinds:
                    self.record(f"latency.{kind}", await self.latency(kind, number, round_name))
        self.progress.clear()
        return self.rows()

    async def open_sockets(self, kind, number, round_name):
        count = self.options.scale_sockets
        with self.fresh_server() as server:
            make = self.make_credentials(kind, server)
            path = KINDS[kind]
            idle = [
                server.ws_url + path.format(room=f"scale-{number}-{i // IDLE_ROOM_SIZE}")
                for i in range(count)
            ]
            # Warm up: the first connects import and allocate what every later one reuses.
            await close_all(await open_all(idle[:20], make, Counter()))
            self.record(f"scale.{kind}.empty", await self.handshakes(server, kind, number, "0"))
            await asyncio.sleep(0.5)
            memory = Sample(count)
            memory.extra["rss_before"] = server.rss_bytes()
            progress = self.progress.start(f"{round_name} {kind}: {count} idle sockets", count)
            sockets = []
            try:
                for start in range(0, count, BATCH):
                    chunk = idle[start : start + BATCH]
                    sockets += await open_all(chunk, make, memory.failures, progress)
                await asyncio.sleep(1)  # let the server settle
                memory.extra["rss_after"] = server.rss_bytes()
                # An idle socket the server closed after accepting it (1013: a channel-layer call
                # of its handshake passed CHANNEL_LAYER_TIMEOUT) is not open: an error of the row.
                for ws in sockets:
                    if ws.close_code is not None:
                        memory.failures[f"closed by the server ({ws.close_code})"] += 1
                self.record(f"memory.scale.{kind}", memory)
                loaded = await self.handshakes(server, kind, number, str(count))
                self.record(f"scale.{kind}.loaded", loaded)
            finally:
                await close_all(sockets)

    async def handshakes(self, server, kind, number, open_now) -> Sample:
        """connect + one chat message there and back + close, `--connections` of them."""
        count, concurrency = self.options.connections, self.options.concurrency
        path = KINDS[kind]
        urls = [
            server.ws_url + path.format(room=f"probe-{number}-{i % PROBE_ROOMS}")
            for i in range(count)
        ]
        credentials = await self.make_credentials(kind, server)(count)
        progress = self.progress.start(f"handshakes, {kind}, {open_now} open", count)
        sample = Sample(count)

        async def handshake(index, url, credential):
            ws = await scenarios.open_socket(url, credential)
            try:
                await scenarios.send_and_await(ws, index, chat=True)
            except TimeoutError:
                sample.lost += 1
            finally:
                await ws.close()

        items = zip(range(count), urls, credentials, strict=True)
        return await scenarios.each_concurrently(
            server, sample, items, concurrency, progress, handshake
        )

    async def latency(self, kind, number, round_name) -> Sample:
        count, size = self.options.latency_sockets, self.options.latency_room
        with self.fresh_server() as first, self.fresh_server() as second:
            servers = [first, second]
            path = KINDS[kind]
            # Socket i in room i // size, on the two servers in turn: every room spans both.
            urls = [
                servers[i % 2].ws_url + path.format(room=f"latency-{number}-{i // size}")
                for i in range(count)
            ]
            rooms = [i // size for i in range(count)]
            # Credentials from either server: tickets and tokens are valid on both.
            make = self.make_credentials(kind, first)
            progress = self.progress.start(f"{round_name} latency, {kind}: opening", count)
            sockets = await open_all(urls, make, Counter(), progress)
            try:
                return await paced_chat(
                    ServerGroup(servers),
                    sockets,
                    rooms,
                    self.options.latency_seconds,
                    self.progress.start(f"{round_name} latency, {kind}", count),
                )
            finally:
                await close_all(sockets)

    def rows(self) -> list[Row]:
        o = self.options
        n = f"{o.scale_sockets:,}"
        rows = []

        def add(row):
            rows.append(row)

        for kind, label in (("bare", "bare Channels consumer"), ("chat", "authenticated chat")):
            if f"memory.scale.{kind}" in self.samples:
                add(
                    memory_row(
                        f"memory.scale.{kind}",
                        f"memory per idle socket, {n} open: {label}",
                        self.samples[f"memory.scale.{kind}"],
                        self.samples.get("memory.scale.bare") if kind == "chat" else None,
                        "<= 1.10x" if kind == "chat" else "",
                    )
                )
        for kind, label in (("bare", "bare consumer"), ("chat", "chat route")):
            hs = f"handshake+message+close, {label}"
            empty, loaded = f"scale.{kind}.empty", f"scale.{kind}.loaded"
            if empty in self.samples:
                add(rate_row(empty, f"{hs}, none open", self.samples[empty]))
                add(rate_row(loaded, f"{hs}, {n} open", self.samples[loaded], self.samples[empty]))
        if "latency.bare" in self.samples:
            what = (
                f"latency, {o.latency_sockets:,} sockets x 1 msg/s, rooms of {o.latency_room},"
                " 2 processes"
            )
            for stat in ("p50", "p99"):
                for kind, label, target in (
                    ("bare", "bare consumer", ""),
                    ("chat", "ChatConsumer", "<= 1.2x" if stat == "p99" else ""),
                ):
                    samples = self.samples[f"latency.{kind}"]
                    values = [sample.extra[stat] for sample in samples]
                    row = Row(
                        f"latency.{kind}.{stat}",
                        f"{what}: {stat}, {label}",
                        unit="ms",
                        value=median(values),
                        target=target,
                        cpu_ms=median(sample.server_cpu_ms for sample in samples),
                        failures=failures_text(samples),
                        lost=sum(sample.lost for sample in samples),
                    )
                    if kind == "chat":
                        bare = self.samples["latency.bare"]
                        row.ratio = median(ratios(values, [s.extra[stat] for s in bare]))
                        row.cpu_ratio = median(
                            ratios(
                                [s.server_cpu_ms for s in samples],
                                [s.server_cpu_ms for s in bare],
                            )
                        )
                    add(row)
        return rows


async def paced_chat(servers, sockets, rooms, seconds, progress) -> Sample:
    """Each socket sends one chat message a second for `seconds`, the sockets' sends spread
    evenly over each second; each message must reach every socket of its room. Latency: from
    just before the send to its arrival, on this client's clock (what the client itself adds is
    in both sides of a ratio)."""
    count = len(sockets)
    members = Counter(rooms)
    expected = sum(members[room] for room in rooms) * seconds
    sample = Sample(expected)
    sent_at = {}
    latencies = []
    state = {"received": 0, "last": time.perf_counter()}

    async def read(ws):
        while True:
            frame = await ws.recv()
            now = time.perf_counter()
            text = json.loads(frame).get("message")
            started = sent_at.get(text)
            if started is None:
                continue  # not one of this scenario's messages (presence, errors)
            latencies.append(now - started)
            state["received"] += 1
            state["last"] = now

    async def send(index, ws, start):
        for tick in range(seconds):
            await asyncio.sleep(max(0.0, start + tick + index / count - time.perf_counter()))
            text = f"latency {index} {tick}"
            sent_at[text] = time.perf_counter()
            await ws.send(json.dumps({"message": text}))
        progress.advance()

    readers = [asyncio.create_task(read(ws)) for ws in sockets]
    try:
        with Meter(servers, sample):
            start = time.perf_counter() + 0.5
            await asyncio.gather(*(send(i, ws, start) for i, ws in enumerate(sockets)))
            while (
                state["received"] < expected and time.perf_counter() - state["last"] < QUIET_SECONDS
            ):
                if any(reader.done() for reader in readers):
                    break  # a socket closed: what it did not receive is lost
                await asyncio.sleep(0.05)
    finally:
        for reader in readers:
            reader.cancel()
        results = await asyncio.gather(*readers, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            sample.fail(result)
    sample.lost = expected - state["received"]
    ordered = sorted(latencies) or [float("nan")]
    sample.extra["p50"] = 1000 * statistics.median(ordered)
    sample.extra["p99"] = 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return sample


def memory_row(key, label, samples, baselines, target) -> Row:
    def per_socket(sample):
        if sample.extra.get("rss_before") is None:
            return None
        return (sample.extra["rss_after"] - sample.extra["rss_before"]) / 1024 / sample.count

    row = Row(
        key,
        label,
        unit="KiB/socket",
        value=median(map(per_socket, samples)),
        target=target,
        failures=failures_text(samples),
    )
    if baselines is not None:
        row.ratio = median(ratios(map(per_socket, samples), map(per_socket, baselines)))
    return row
