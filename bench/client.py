"""The benchmark's client side: a minimal HTTP/1.1 JSON client, the users, WebSocket connects."""

import asyncio
import base64
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON (the standard library has no async
    HTTP client). Fails loudly on anything it does not expect."""

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.reader = self.writer = None

    async def post_json(self, path: str, payload=None, bearer: str | None = None):
        """POST `payload` as JSON; returns (status, parsed body)."""
        body = json.dumps(payload or {}).encode()
        headers = [
            f"POST {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
        ]
        if bearer:
            headers.append(f"Authorization: Bearer {bearer}")
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(("\r\n".join(headers) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length, close = None, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        if length is None:
            raise RuntimeError(f"POST {path}: a response without Content-Length")
        content = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, json.loads(content) if content else None

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()
            self.reader = self.writer = None


class Users:
    """The benchmark's users and a fresh access token for each (POST /api/token/)."""

    def __init__(self, http_url: str, users: dict[str, str]):
        self.http_url = http_url
        self.users = users
        self.access = {}

    async def log_in(self):
        """Get an access token for every user whose token is missing or expires within a minute."""
        http = HttpConnection(self.http_url)
        try:
            for name, password in self.users.items():
                if expires_at(self.access.get(name)) > time.time() + 60:
                    continue
                status, body = await http.post_json(
                    "/api/token/", {"username": name, "password": password}
                )
                if status != 200:
                    raise RuntimeError(f"POST /api/token/ for {name}: {status} {body}")
                self.access[name] = body["access"]
        finally:
            await http.close()

    def tokens(self, count: int) -> list[str]:
        """`count` access tokens, taking the users in turn."""
        tokens = list(self.access.values())
        return [tokens[i % len(tokens)] for i in range(count)]


def expires_at(token: str | None) -> float:
    """The `exp` claim of a JWT, read without checking it (the server does); 0 without a token."""
    if not token:
        return 0
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]


@dataclass(frozen=True)
class Credential:
    """What a WebSocket handshake carries to authenticate: a query string and/or subprotocols."""

    query: str = ""
    subprotocols: tuple[str, ...] = ()


async def open_socket(url: str, credential: Credential | None = None, open_timeout: float = 30):
    """Connect like a browser on the server's own origin would, without compression (whose zlib
    state would dominate the memory per socket), and without any proxy from the environment."""
    credential = credential or Credential()
    parts = urlsplit(url)
    return await connect(
        f"{url}?{credential.query}" if credential.query else url,
        origin=f"http://{parts.netloc}",
        subprotocols=list(credential.subprotocols) or None,
        compression=None,
        proxy=None,
        open_timeout=open_timeout,
        ping_interval=None,  # idle sockets stay idle: no keepalive traffic in the measurements
    )


def handshake_status(error: Exception) -> int | None:
    """The HTTP status of a refused handshake, or None for any other failure."""
    return error.response.status_code if isinstance(error, InvalidStatus) else None
