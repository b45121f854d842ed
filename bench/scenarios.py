"""The measurements, each on one route of the server, returning a Sample.

Time is wall-clock time on the client; server CPU is the server process's user + system time
over the same interval (/proc), which does not depend on how fast the client is.
"""

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.client import Credential, HttpConnection, handshake_status, open_socket
from bench.credentials import post_for_ticket

# How many times a socket that a scenario needs open is tried again after a failed handshake.
RETRIES = 3
# A message not arrived this many seconds after the last one that did is counted lost.
QUIET_SECONDS = 10


@dataclass
class Sample:
    """One measurement: `count` operations in `seconds`, and what went wrong."""

    count: int
    seconds: float = 0.0
    server_cpu: float | None = None  # seconds of server CPU time
    client_cpu: float = 0.0  # seconds of this process's CPU time
    failures: Counter = field(default_factory=Counter)  # "HTTP 500", "TimeoutError", ...
    lost: int = 0  # messages sent that never arrived where they should have
    extra: dict = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    @property
    def server_cpu_ms(self) -> float | None:
        """Server CPU milliseconds per operation."""
        return None if self.server_cpu is None else 1000 * self.server_cpu / self.count

    @property
    def client_busy(self) -> float:
        """The fraction of the wall time this (single-threaded) client spent on the CPU."""
        return self.client_cpu / self.seconds

    def fail(self, error: BaseException) -> None:
        self.failures[failure_name(error)] += 1


def failure_name(error: BaseException) -> str:
    status = handshake_status(error)
    return f"HTTP {status}" if status else type(error).__name__


class Meter:
    """Records wall time, server CPU and client CPU of a `with` block into a Sample."""

    def __init__(self, server, sample: Sample):
        self.server = server
        self.sample = sample

    def __enter__(self):
        self.cpu = self.server.cpu_seconds()
        self.client = time.process_time()
        self.started = time.perf_counter()
        return self.sample

    def __exit__(self, *exc_info):
        self.sample.seconds = time.perf_counter() - self.started
        self.sample.client_cpu = time.process_time() - self.client
        if self.cpu is not None:
            self.sample.server_cpu = self.server.cpu_seconds() - self.cpu


async def round_trip(url, credential) -> None:
    """Open a socket, send one text frame and get one back, close."""
    ws = await open_socket(url, credential)
    try:
        await ws.send("ping")
        await ws.recv()
    finally:
        await ws.close()


async def each_concurrently(server, sample, items, concurrency, progress, step) -> Sample:
    """`await step(*item)` for every item, `concurrency` at a time, metered on `server`; an
    exception from a step is counted as a failure in `sample`."""
    pending = iter(items)

    async def worker():
        for item in pending:
            try:
                await step(*item)
            except Exception as error:
                sample.fail(error)
            progress.advance()

    with Meter(server, sample):
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sample


async def connect_echo_close(server, urls, credentials, concurrency, progress) -> Sample:
    """Each credential: open a socket, one text frame there and back, close; `concurrency` at a
    time."""
    sample = Sample(len(credentials))
    items = zip(urls, credentials, strict=True)
    return await each_concurrently(server, sample, items, concurrency, progress, round_trip)


async def ticket_flow(server, urls, access_tokens, concurrency, progress) -> Sample:
    """What a ticket-mode client does each time: POST /api/ws-ticket/, then connect + echo +
    close. Each worker keeps one HTTP connection alive, as a browser would."""
    sample = Sample(len(access_tokens))
    pending = iter(zip(urls, access_tokens, strict=True))

    async def worker():
        http = HttpConnection(server.http_url)
        try:
            for url, token in pending:
                try:
                    ticket = await post_for_ticket(http, token)
                    await round_trip(url, Credential(query=f"ticket={ticket}"))
                except Exception as error:
                    sample.fail(error)
                progress.advance()
        finally:
            await http.close()

    with Meter(server, sample):
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sample


async def burst(server, urls, credentials, progress, chat=False) -> Sample:
    """Every socket at once: each opens, sends one message and waits for it to come back (the
    echo, or on the chat route its own message through the room's group). The time until every
    socket has its message back or has failed; a message that never came back is lost."""
    sample = Sample(len(credentials))

    async def connect(number, url, credential):
        try:
            ws = await open_socket(url, credential)
        except Exception as error:
            sample.fail(error)
            progress.advance()
            return
        try:
            await send_and_await(ws, number, chat)
        except TimeoutError:
            sample.lost += 1
        except Exception as error:
            sample.fail(error)
        finally:
            progress.advance()
            await ws.close()

    with Meter(server, sample):
        await asyncio.gather(
            *(
                connect(number, url, credential)
                for number, (url, credential) in enumerate(zip(urls, credentials, strict=True))
            )
        )
    return sample


async def send_and_await(ws, number, chat) -> None:
    """Send one message and wait for it to come back; TimeoutError after QUIET_SECONDS without
    any frame."""
    text = f"burst {number}"
    await ws.send(json.dumps({"message": text}) if chat else text)
    while True:
        frame = await asyncio.wait_for(ws.recv(), QUIET_SECONDS)
        if not chat or json.loads(frame).get("message") == text:
            return


async def fan_out(server, urls, make_credentials, messages, progress) -> Sample:
    """Sockets in one room; the first sends `messages` chat messages as fast as it can, and every
    socket must receive every one. Nothing paces the sender: whatever the channel layer drops
    (channels-redis' core layer past `capacity` messages waiting) is counted lost, once no
    message has arrived for QUIET_SECONDS."""
    sample = Sample(len(urls) * messages)
    sockets = await open_all(urls, make_credentials, sample.failures)
    received = [0] * len(sockets)

    async def read(index, ws):
        with contextlib.suppress(TimeoutError):
            for _ in range(messages):
                await asyncio.wait_for(ws.recv(), QUIET_SECONDS)
                received[index] += 1
                if index == 0:
                    progress.advance()

    async def send():
        for number in range(messages):
            await sockets[0].send(json.dumps({"message": f"message {number}"}))

    try:
        with Meter(server, sample):
            await asyncio.gather(send(), *(read(i, ws) for i, ws in enumerate(sockets)))
        sample.lost = sample.count - sum(received)
    finally:
        await close_all(sockets)
    return sample


async def idle_memory(server, urls, make_credentials, batch, progress) -> Sample:
    """Server RSS per idle open socket: RSS with len(urls) sockets open, minus RSS before."""
    sample = Sample(len(urls))
    await asyncio.sleep(0.5)
    before = server.rss_bytes()
    sockets = []
    for start in range(0, len(urls), batch):
        # Batch by batch: tickets expire (WS_TICKET_TTL) while thousands of sockets open.
        chunk = urls[start : start + batch]
        sockets += await open_all(chunk, make_credentials, sample.failures, progress)
    await asyncio.sleep(1)  # let the server settle (tasks started on connect, freed buffers)
    sample.extra["rss_before"] = before
    sample.extra["rss_after"] = server.rss_bytes()
    await close_all(sockets)
    return sample


async def open_all(urls, make_credentials, failures, progress=None, concurrency=100) -> list:
    """Open one socket per url, `concurrency` handshakes at a time. These scenarios measure open
    sockets, not handshakes: a failed handshake is counted in `failures` and tried again with a
    fresh credential, up to RETRIES times; then the scenario fails."""
    limit = asyncio.Semaphore(concurrency)

    async def connect(url, credential):
        for attempt in range(RETRIES + 1):
            try:
                async with limit:
                    ws = await open_socket(url, credential)
            except Exception as error:
                if attempt == RETRIES:
                    raise
                failures[f"{failure_name(error)} (tried again)"] += 1
                await asyncio.sleep(0.1 * 2**attempt)
                [credential] = await make_credentials(1)
            else:
                if progress:
                    progress.advance()
                return ws

    credentials = await make_credentials(len(urls))
    results = await asyncio.gather(
        *(connect(url, credential) for url, credential in zip(urls, credentials, strict=True)),
        return_exceptions=True,
    )
    sockets = [ws for ws in results if not isinstance(ws, BaseException)]
    errors = [error for error in results if isinstance(error, BaseException)]
    if errors:
        await close_all(sockets)
        raise RuntimeError(f"{len(errors)} of {len(results)} sockets failed to open") from errors[0]
    return sockets


async def close_all(sockets, concurrency=200) -> None:
    limit = asyncio.Semaphore(concurrency)

    async def close(ws):
        async with limit:
            await ws.close()

    await asyncio.gather(*(close(ws) for ws in sockets), return_exceptions=True)
