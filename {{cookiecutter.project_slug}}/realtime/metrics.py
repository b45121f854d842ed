"""Prometheus metrics of the WebSockets, the channel layer and its drops (prometheus-client).

What is counted, in each server process:
- `realtime_websockets_open`: sockets open now;
- `realtime_websocket_handshakes_total{outcome, refused_by}`: handshakes accepted, or refused and
  by which check (`transport`: plain ws:// while HTTPS is forced, `origin`, `credential`: none,
  bad, used or expired, or Redis unreachable to check it, `application`: an unknown path, or a
  room the user may not join);
- `realtime_websocket_closes_total{code}`: open sockets closed, by close code (the server's, or
  the client's when it closed first);
- `realtime_websocket_messages_total{direction}`: frames received (`in`) and sent (`out`);
{%- if cookiecutter.auth_mode == "ticket" %}
- `realtime_ticket_redemptions_total{outcome}`: ticket redemptions (realtime.tickets counts them);
{%- endif %}
- `realtime_channel_layer_dropped_messages_total{reason}`: what realtime.layers.dropped_messages
  counts;
- `realtime_channel_layer_seconds{call}`: how long each bounded channel-layer call took
  (realtime.redis_outages.within_deadline), failures included.

`WebSocketMetrics` wraps the WebSocket stack (config/asgi.py) and watches its ASGI messages;
`refused_by(name, app)` marks how far a handshake got, so that a refusal names its check.

Several processes: with PROMETHEUS_MULTIPROC_DIR set before this module is imported, each process
writes its values to files there and the exporter adds them up (prometheus-client's multiprocess
mode). deploy/gunicorn.conf.py sets that up and serves the sum on METRICS_PORT, a port of its own
that the proxy does not forward.
"""

from contextvars import ContextVar

from asgiref.sync import markcoroutinefunction
from prometheus_client import Counter, Gauge, Histogram

OPEN = Gauge("realtime_websockets_open", "WebSockets open now.", multiprocess_mode="livesum")
HANDSHAKES = Counter(
    "realtime_websocket_handshakes",
    "WebSocket handshakes, by outcome and, when refused, by the check that refused them.",
    ["outcome", "refused_by"],
)
CLOSES = Counter("realtime_websocket_closes", "Open WebSockets closed, by close code.", ["code"])
MESSAGES = Counter(
    "realtime_websocket_messages", "WebSocket frames received (in) and sent (out).", ["direction"]
)
DROPPED = Counter(
    "realtime_channel_layer_dropped_messages",
    "Messages the channel layer dropped, by reason.",
    ["reason"],
)
LAYER_SECONDS = Histogram(
    "realtime_channel_layer_seconds",
    "Duration of bounded channel-layer calls, failures included.",
    ["call"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

# The socket whose handshake passes through this task now, counted (WebSocketMetrics sets it).
# A context variable rather than a key in a copy of the scope: that copy lived as long as the
# socket (0.4 KiB per idle socket, by tracemalloc).
counted_socket: ContextVar["CountedSocket | None"] = ContextVar("counted_socket", default=None)


def refused_by(name, app):
    """ASGI middleware: records that a handshake reached `app`, the check called `name`; a refusal
    before the next mark is counted as refused by it."""

    # Not a coroutine: it returns the inner app's, so that an open socket holds no frame of it
    # (three marks cost 0.9 KiB per socket as coroutines, by tracemalloc). Marked as one, as
    # Django marks its sync middleware, for whoever checks.
    @markcoroutinefunction
    def marked(scope, receive, send):
        if (socket := counted_socket.get()) is not None:
            socket.stage = name
        return app(scope, receive, send)

    marked.inner = app  # the stack stays walkable, as Channels' middleware keep `inner`
    return marked


class WebSocketMetrics:
    """ASGI middleware around the WebSocket stack: counts handshakes, open sockets, closes and
    frames from the ASGI messages that pass."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.inner(scope, receive, send)
        socket = CountedSocket(receive, send)
        # For the rest of this task, which ASGI servers run for this socket alone. Not reset: its
        # token would live as long as the socket.
        counted_socket.set(socket)
        try:
            return await self.inner(scope, socket.receive, socket.send)
        finally:
            # The server went away without a close frame either way (a process stopping).
            socket.closed(1006)


class CountedSocket:
    """One socket's ASGI receive and send, counted. Slotted, with bound methods rather than
    closures: it lives as long as the socket (0.8 KiB less per socket, by tracemalloc)."""

    __slots__ = ("_receive", "_send", "decided", "is_open", "stage")

    def __init__(self, receive, send):
        self._receive, self._send = receive, send
        self.stage = "transport"  # the last check the handshake reached (refused_by)
        self.is_open = self.decided = False

    def closed(self, code) -> None:
        if self.is_open:
            self.is_open = False
            OPEN.dec()
            CLOSES.labels(str(code)).inc()

    def refused(self) -> None:
        if not self.decided:
            self.decided = True
            HANDSHAKES.labels("refused", self.stage).inc()

    async def receive(self):
        message = await self._receive()
        if message["type"] == "websocket.receive":
            MESSAGES.labels("in").inc()
        elif message["type"] == "websocket.disconnect":
            self.closed(message.get("code", 1005))
        return message

    async def send(self, message):
        kind = message["type"]
        if kind == "websocket.accept":
            self.decided = self.is_open = True
            HANDSHAKES.labels("accepted", "").inc()
            OPEN.inc()
        elif kind == "websocket.send":
            MESSAGES.labels("out").inc()
        elif kind == "websocket.close":
            if self.is_open:
                self.closed(message.get("code", 1000))
            else:
                self.refused()
        elif kind == "websocket.http.response.start":
            self.refused()
        return await self._send(message)
