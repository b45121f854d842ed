"""What presence and history cost (the project's CHAT_PRESENCE and CHAT_HISTORY), as scenarios of
the benchmark (bench/ws_bench.py runs them in its rounds):

- **cost**: chat fan-out, server CPU per delivered message, on a server with presence and
  history on and sockets that ask for both (`presence=1&history=1`, as client.js does), against
  a second server started the same way with `CHAT_PRESENCE=off CHAT_HISTORY=off` and sockets
  that ask nothing. Two servers, not one server and sockets that do or do not ask: with the
  settings on, every socket is in its room's presence and every message is numbered and
  appended to the room's history whatever its sockets asked for, so a comparison on one server
  would leave most of the cost in the baseline. A third row, the "on" server with sockets that
  ask nothing, splits the cost of the server's side from the positioned frames'.
- **resume**: `--resume-sockets` sockets in one room, each knowing its (epoch, position),
  disconnect; `--resume-missed` messages are published meanwhile; all reconnect at once with
  `epoch=&position=`, and each must get exactly the missed messages in its `history` frame, in
  order, and none of them again live (a marker message sent afterwards closes each socket's
  check). Lost and duplicated messages are counted; the baseline is the same reconnect storm to
  the same room without asking to resume.
- **history memory** (Redis only): the bytes Redis holds for one room (MEMORY USAGE of every key
  of the room under the server's prefix) after CHAT_HISTORY_SIZE messages and after
  `--history-messages` of them, which is many times more: the history is bounded by its settings,
  not by the traffic.
"""

import asyncio
import contextlib
import json
import secrets
from collections import Counter

from bench import scenarios
from bench.client import Credential, open_socket
from bench.report import Row

BOTH = "presence=1&history=1"
# How long a resuming socket waits for its history frame, counted as no answer past it.
ANSWER_SECONDS = 30
HISTORY_SIZE = 100  # the project's CHAT_HISTORY_SIZE by default; the server runs with defaults


def chat_path(room: str) -> str:
    return f"/ws/chat/{room}/"


def asking(make_credentials, params: str):
    """`make_credentials`, with `params` added to each credential's query string."""

    async def make(count):
        return [
            Credential("&".join(filter(None, [c.query, params])), c.subprotocols)
            for c in await make_credentials(count)
        ]

    return make


async def frames(ws):
    """The socket's frames, parsed, until it closes."""
    with contextlib.suppress(Exception):
        while True:
            yield json.loads(await ws.recv())


class Sync:
    """The presence and history scenarios of one benchmark run: `benchmark` is ws_bench's
    Benchmark (its on server, users, options, samples), `off_server` a server started with
    presence and history off (None: the cost rows are skipped)."""

    def __init__(
        self, benchmark, off_server, redis_url: str = "", key_prefix: str = "", resume_server=None
    ):
        self.bench = benchmark
        self.off_server = off_server
        self.resume_server = resume_server or benchmark.server
        self.redis_url = redis_url
        self.key_prefix = key_prefix

    async def round(self, number: int, round_name: str) -> None:
        keys = ["sync.off", "sync.on", "sync.on_plain"] if self.off_server else []
        shift = number % max(len(keys), 1)
        for key in keys[shift:] + keys[:shift]:
            self.bench.record(key, await self.fan_out(key, round_name, number))
        for key in ["resume.plain", "resume.missed"][:: 1 if number % 2 else -1]:
            self.bench.record(key, await self.resume(key, round_name, number))

    async def after_rounds(self) -> None:
        if self.redis_url:
            self.bench.record("memory.history", await self.history_memory())

    async def fan_out(self, key: str, round_name: str, number: int) -> scenarios.Sample:
        server = self.off_server if key == "sync.off" else self.bench.server
        options = self.bench.options
        count, messages = options.fanout_sockets, options.fanout_messages
        room = f"bench-sync-{number}-{secrets.token_hex(4)}"

        async def make_credentials(n):
            return await self.bench.credentials(n, server)

        if key == "sync.on":
            make_credentials = asking(make_credentials, BOTH)
        progress = self.bench.progress.start(f"{round_name} {key}", messages)
        return await fan_out(server, [server.ws_url + chat_path(room)] * count,
                             make_credentials, messages, progress)  # fmt: skip

    async def resume(self, key: str, round_name: str, number: int) -> scenarios.Sample:
        options = self.bench.options
        server, count, missed = self.resume_server, options.resume_sockets, options.resume_missed
        rooms = [
            server.ws_url + chat_path(f"bench-resume-{number}-{i}-{secrets.token_hex(4)}")
            for i in range(options.resume_rooms)
        ]
        urls = [rooms[i % len(rooms)] for i in range(count)]

        async def make_credentials(n):
            return await self.bench.credentials(n, server)

        progress = self.bench.progress.start(f"{round_name} {key} ({count} sockets)", count)
        return await resume(server, urls, make_credentials, missed, key, progress)

    async def history_memory(self) -> scenarios.Sample:
        import redis.asyncio as aioredis

        server, total = self.bench.server, self.bench.options.history_messages
        room = f"bench-memory-{secrets.token_hex(4)}"
        [credential] = await self.bench.credentials(1)
        sample = scenarios.Sample(total)
        client = aioredis.Redis.from_url(self.redis_url)
        progress = self.bench.progress.start(f"memory.history ({total} messages)", total)
        checkpoints = sorted({HISTORY_SIZE, total // 2, total})
        ws = await open_socket(server.ws_url + chat_path(room), credential)
        try:
            with scenarios.Meter(server, sample):
                sent = 0
                for checkpoint in checkpoints:
                    while sent < checkpoint:
                        # 100 characters: what a short chat message weighs
                        await ws.send(json.dumps({"message": f"{sent:>100}"}))
                        sent += 1
                    await wait_for_message(ws, f"{sent - 1:>100}")
                    progress.advance(checkpoint - progress.done)
                    sample.extra[checkpoint] = await room_bytes(client, self.key_prefix, room)
        finally:
            await ws.close()
            await client.aclose()
        return sample

    def rows(self, samples, options, rate_row) -> list[Row]:
        fan = f"{options.fanout_sockets}x{options.fanout_messages}"
        resume_ = f"{options.resume_sockets} reconnect at once in {options.resume_rooms} rooms"
        specs = [
            ("sync.off", f"fan-out {fan}: presence+history off (baseline)", None, ""),
            ("sync.on", f"fan-out {fan}: presence+history on, asked", "sync.off",
             "CPU <= 1.15x"),
            ("sync.on_plain", f"fan-out {fan}: presence+history on, not asked", "sync.off", ""),
            ("resume.plain", f"{resume_}: no resume (baseline)", None, ""),
            ("resume.missed", f"{resume_}: resume {options.resume_missed} missed each",
             "resume.plain", "0 lost, 0 dup"),
        ]  # fmt: skip
        rows = [
            rate_row(key, label, samples[key], samples.get(baseline), target)
            for key, label, baseline, target in specs
            if key in samples
        ]
        baselines = {key: baseline for key, _, baseline, _ in specs}
        for row in rows:
            row.unit = "sockets/s" if row.key.startswith("resume") else "msgs/s"
            if baselines[row.key] in samples:  # the spread behind the median CPU ratio
                cpu = [sample.server_cpu_ms for sample in samples[row.key]]
                base = [sample.server_cpu_ms for sample in samples[baselines[row.key]]]
                per_round = [f"{a / b:.2f}" for a, b in zip(cpu, base, strict=True) if a and b]
                row.unit += f"; CPU ratio by round {', '.join(per_round)}"
        if "memory.history" in samples:
            [sample] = samples["memory.history"]
            points = [key for key in sample.extra if isinstance(key, int)]
            low, high = min(points), max(points)
            row = Row(
                "memory.history",
                f"Redis bytes per room after {high} messages (after {low})",
                unit="bytes ("
                + ", ".join(f"{sample.extra[p]:,} after {p}" for p in sorted(points)[:-1])
                + ")",
                value=sample.extra[high],
                ratio=sample.extra[high] / sample.extra[low],
                target=f"bounded by CHAT_HISTORY_SIZE={HISTORY_SIZE}",
            )
            rows.append(row)
        return rows


async def drain(ws) -> None:
    async for _ in frames(ws):
        pass


async def wait_for_message(ws, text: str) -> None:
    async for frame in frames(ws):
        if frame.get("message") == text:
            return
    raise ConnectionError("the socket closed before its message came back")


async def room_bytes(client, prefix: str, room: str) -> int:
    """Bytes of every Redis key of `room` under `prefix` (history, history meta, presence)."""
    total = 0
    async for key in client.scan_iter(match=f"{prefix}:*:{room}", count=1000):
        total += await client.memory_usage(key, samples=0) or 0
    return total


async def fan_out(server, urls, make_credentials, messages, progress) -> scenarios.Sample:
    """scenarios.fan_out, counting only chat messages (sockets that ask get presence and history
    frames too), and each message once: a second copy is counted duplicated."""
    sample = scenarios.Sample(len(urls) * messages)
    sockets = await scenarios.open_all(urls, make_credentials, sample.failures)
    seen = [set() for _ in sockets]
    duplicated = 0
    done = asyncio.Event()
    last_arrival = [asyncio.get_running_loop().time()]

    async def read(index, ws):
        nonlocal duplicated
        async for frame in frames(ws):
            if frame.get("type") != "chat.message":
                continue
            last_arrival[0] = asyncio.get_running_loop().time()
            if frame["message"] in seen[index]:
                duplicated += 1
            seen[index].add(frame["message"])
            if index == 0:
                progress.advance()
            if sum(map(len, seen)) == sample.count:
                done.set()

    readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(sockets)]
    try:
        await asyncio.sleep(1)  # the joins' presence frames, sent before the clock starts
        with scenarios.Meter(server, sample):
            for number in range(messages):
                await sockets[0].send(json.dumps({"message": f"message {number}"}))
            while not done.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), 1)
                quiet = asyncio.get_running_loop().time() - last_arrival[0]
                if quiet > scenarios.QUIET_SECONDS:
                    break
        sample.lost = sample.count - sum(map(len, seen))
        if duplicated:
            sample.failures["duplicated"] += duplicated
    finally:
        await scenarios.close_all(sockets)
        for reader in readers:
            reader.cancel()
    return sample


async def resume(server, urls, make_credentials, missed, key, progress) -> scenarios.Sample:
    """A socket per url (the urls name a few rooms) learns its room's (epoch, position) and
    closes; a publisher per room sends `missed` messages there; all reconnect at once, asking to
    resume (resume.missed) or not (resume.plain), and each waits for its history frame
    (resume.missed: every missed message of its room, in order) and then for a marker sent live
    once all are back. The clock runs from the reconnects until every socket has its history
    (or, without resume, is open)."""
    count, rooms = len(urls), sorted(set(urls))
    sample = scenarios.Sample(count)
    history = asking(make_credentials, "history=1")
    first = await scenarios.open_all(urls, history, sample.failures)
    welcomes = await asyncio.gather(*(anext(frames(ws)) for ws in first))
    await scenarios.close_all(first)
    since = {}
    for url, welcome in zip(urls, welcomes, strict=True):
        if since.setdefault(url, (welcome["epoch"], welcome["position"])) != since[url]:
            raise RuntimeError(f"{url} moved while its sockets joined")
    publishers = await scenarios.open_all(rooms, make_credentials, sample.failures)
    expected = [f"missed {n}" for n in range(missed)]
    for text in expected:
        await asyncio.gather(*(ws.send(json.dumps({"message": text})) for ws in publishers))
    await asyncio.gather(*(wait_for_message(ws, expected[-1]) for ws in publishers))
    # The publishers read what comes to them (presence of the reconnects...), as clients do.
    drains = [asyncio.create_task(drain(ws)) for ws in publishers]

    credentials = await make_credentials(count)
    params = {
        url: f"epoch={since[url][0]}&position={since[url][1]}" if key == "resume.missed" else ""
        for url in rooms
    }
    outcomes, lost, duplicated = Counter(), 0, 0
    back, marker_sent = asyncio.Event(), asyncio.Event()
    sockets, arrived = [], 0

    def arrive():
        nonlocal arrived
        arrived += 1
        progress.advance()
        if arrived == count:
            back.set()

    async def reconnect(url, credential):
        nonlocal lost, duplicated
        query = "&".join(filter(None, [credential.query, params[url]]))
        try:
            ws = await open_socket(url, Credential(query, credential.subprotocols))
        except Exception as error:
            sample.fail(error)
            lost += missed if params[url] else 0
            arrive()
            return
        sockets.append(ws)
        got = []
        if params[url]:
            try:
                answer = await asyncio.wait_for(anext(frames(ws)), ANSWER_SECONDS)
            except (TimeoutError, StopAsyncIteration):
                answer = {"resume": f"no answer (close code {ws.close_code})", "messages": []}
            outcomes[answer.get("resume")] += 1
            got = [(m["position"], m["message"]) for m in answer.get("messages", [])]
        arrive()
        # Live frames until the marker, a live message like any other: not getting it is a
        # message lost; any missed message again is a duplicate.
        marker = False
        with contextlib.suppress(TimeoutError):
            while True:
                wait = scenarios.QUIET_SECONDS if marker_sent.is_set() else 3 * ANSWER_SECONDS
                frame = await asyncio.wait_for(anext(frames(ws), None), wait)
                if frame is None or frame.get("message") == "marker":
                    marker = frame is not None
                    break
                if frame.get("type") == "chat.message":
                    got.append((frame.get("position"), frame["message"]))
        if not marker:
            lost += 1
            sample.failures[f"no marker (close code {ws.close_code})"] += 1
        if params[url]:
            wanted = list(enumerate(expected, start=since[url][1] + 1))
            lost += len(set(wanted) - set(got))
            duplicated += len(got) - len(set(got)) + len(set(got) - set(wanted))
            if got != wanted and not (set(wanted) - set(got)) and len(got) == len(set(got)):
                sample.failures["out of order"] += 1

    tasks = []
    try:
        with scenarios.Meter(server, sample):
            tasks = [
                asyncio.create_task(reconnect(url, credential))
                for url, credential in zip(urls, credentials, strict=True)
            ]
            await asyncio.wait_for(back.wait(), 120)
        await asyncio.gather(*(ws.send(json.dumps({"message": "marker"})) for ws in publishers))
        marker_sent.set()
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await scenarios.close_all([*publishers, *sockets])
        for task in drains:
            task.cancel()
        closed = [ws.close_code for ws in publishers if ws.close_code not in (None, 1000)]
        if closed:
            sample.failures[f"publisher closed {closed}"] += len(closed)
    sample.lost = lost
    if duplicated:
        sample.failures["duplicated"] += duplicated
    if key == "resume.missed" and outcomes != Counter(
        {"ok": count - sum(sample.failures.values())}
    ):
        for outcome, n in outcomes.items():
            if outcome != "ok":
                sample.failures[f"resume {outcome}"] += n
    sample.extra["missed"] = missed
    return sample
