"""The app the benchmark serves: a baked project's, plus baseline routes under `/bench/`.

Imported with the baked project's directory and this template's root on sys.path, in the project's
environment (bench/server.py starts `uvicorn bench.asgi:application` so). The project itself never
serves these routes. Every WebSocket route here passes the project's origin check, so that a
baseline differs from the project's route by what is measured and nothing else:

- `/bench/echo/`: a bare consumer that echoes each text frame, with no authentication;
- `/bench/auth-echo/`: the same consumer behind the project's own auth middleware (the handshake
  cost of the baked auth mode, and nothing else);
- `/bench/chat/<room>/`: a bare Channels chat room, with no authentication and no sessions, doing
  the same group_send through the same channel layer as realtime.consumers.ChatConsumer;
- `/bench/chat-without-limits/<room>/`: the project's own WebSocket stack and ChatConsumer, with
  the per-user connection slots and the per-socket frame rate (realtime.limits) switched off: the
  project's chat route minus what its limits cost.
"""

import copy

from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import re_path

from config.asgi import application as project_application
from realtime.authentication import AuthMiddleware
from realtime.consumers import ChatConsumer
from realtime.limits import ALLOWED
from realtime.models import ROOM_NAME_PATTERN
from realtime.origins import OriginPolicyMiddleware

project_websocket = project_application.application_mapping["websocket"]


class EchoConsumer(AsyncWebsocketConsumer):
    """Accepts every handshake and sends each text frame back."""

    # Accepted when the client offers it, as the project's consumers do: a browser that offered
    # subprotocols fails the handshake unless the server picks one of them.
    subprotocol = "chat.v1"

    async def connect(self):
        offered = self.scope.get("subprotocols") or ()
        await self.accept(self.subprotocol if self.subprotocol in offered else None)

    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data, bytes_data=bytes_data)


class BareChatConsumer(AsyncJsonWebsocketConsumer):
    """A chat room as the Channels tutorial writes it: join the group, group_send, deliver."""

    async def connect(self):
        self.room = self.scope["url_route"]["kwargs"]["room"]
        self.room_group = f"chat.{self.room}"
        await self.channel_layer.group_add(self.room_group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.room_group, self.channel_name)

    async def receive_json(self, content):
        await self.channel_layer.group_send(
            self.room_group,
            {
                "type": "chat.message",
                "room": self.room,
                "user": "bench",
                "message": content["message"],
            },
        )

    async def chat_message(self, event):
        await self.send_json(event)


class NoLimits:
    """Connection slots that admit every socket, and a frame rate that allows every frame."""

    async def acquire(self, user_pk, channel, deadline):
        return True

    async def extend(self, user_pk, channel, deadline):
        pass

    async def release(self, user_pk, channel):
        pass

    def take(self):
        return ALLOWED


NO_LIMITS = NoLimits()


class ChatWithoutLimitsConsumer(ChatConsumer):
    def message_limit(self):
        return NO_LIMITS

    def connection_limit(self):
        return NO_LIMITS


def served(kind):
    """The first object of `kind` in the WebSocket stack config.asgi serves, found by walking it."""
    app = project_websocket
    while not isinstance(app, kind):
        app = getattr(app, "application", None) or getattr(app, "inner", None)
        if app is None:
            raise LookupError(f"no {kind.__name__} in config.asgi's WebSocket stack")
    return app


# Served by the project's own stack (metrics, TLS, origin and auth checks), ahead of its routes.
WITHOUT_LIMITS_PREFIX = "/bench/chat-without-limits/"
served(URLRouter).routes.insert(
    0,
    re_path(
        rf"^{WITHOUT_LIMITS_PREFIX[1:]}(?P<room>{ROOM_NAME_PATTERN})/$",
        ChatWithoutLimitsConsumer.as_asgi(),
    ),
)


def served_auth_middleware() -> AuthMiddleware:
    """The auth middleware object the project serves: whichever mode was baked, configured
    exactly as config/asgi.py configures it."""
    return served(AuthMiddleware)


def project_auth_middleware(inner):
    """The auth middleware object the project serves, copied, in front of `inner` instead."""
    middleware = copy.copy(served_auth_middleware())
    middleware.inner = inner
    return middleware


echo = EchoConsumer.as_asgi()
bench_websocket = URLRouter(
    [
        re_path(r"^bench/echo/$", OriginPolicyMiddleware(echo)),
        re_path(r"^bench/auth-echo/$", OriginPolicyMiddleware(project_auth_middleware(echo))),
        re_path(
            r"^bench/chat/(?P<room>[A-Za-z0-9_-]{1,64})/$",
            OriginPolicyMiddleware(BareChatConsumer.as_asgi()),
        ),
    ]
)


async def websocket(scope, receive, send):
    """`/bench/...` to the baselines above, everything else to the project's WebSocket stack."""
    path = scope["path"]
    on_bench = path.startswith("/bench/") and not path.startswith(WITHOUT_LIMITS_PREFIX)
    app = bench_websocket if on_bench else project_websocket
    return await app(scope, receive, send)


application = ProtocolTypeRouter(
    {"http": project_application.application_mapping["http"], "websocket": websocket}
)
