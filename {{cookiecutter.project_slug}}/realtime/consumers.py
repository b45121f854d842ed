"""The sample consumer: a chat room whose messages go to every socket in it, in every process."""

import json
import logging

from channels.generic.websocket import AsyncWebsocketConsumer

from realtime.exceptions import REDIS_UNAVAILABLE

logger = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 4000
# Close code "Try Again Later" (RFC 6455 registry): the server cannot serve the socket for now.
TRY_AGAIN_LATER = 1013


class ChatConsumer(AsyncWebsocketConsumer):
    """`/ws/chat/<room>/`: send `{"message": "..."}`; everyone in the room gets a `chat.message`.

    Only authenticated users reach this consumer: the auth middleware refuses everyone else at the
    handshake. A malformed frame gets an `error` reply and the socket stays open.

    When the channel layer's Redis is unreachable, a handshake is refused (HTTP 403) and an open
    socket is closed with 1013; each logs one warning, and the server process carries on.
    """

    client_gone = False

    async def __call__(self, scope, receive, send):
        # Every channel-layer call (join, the layer's receive loop, send, leave) runs under here.
        try:
            await super().__call__(scope, receive, send)
        except REDIS_UNAVAILABLE as error:
            logger.warning("Redis unavailable, closed %s: %s", scope["path"], error)
            if not self.client_gone:
                # Before accept(), a close refuses the handshake with HTTP 403.
                await self.close(code=TRY_AGAIN_LATER)

    async def connect(self):
        self.room = self.scope["url_route"]["kwargs"]["room"]
        self.group_name = f"chat.{self.room}"
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        self.client_gone = True  # from here on there is no socket left to close
        await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        message, error = parse_chat_frame(text_data)
        if error:
            await self.send_json({"type": "error", "error": error})
            return
        await self.channel_layer.group_send(
            self.group_name,
            {
                "type": "chat.message",
                "room": self.room,
                "user": self.scope["user"].get_username(),
                "message": message,
            },
        )

    async def chat_message(self, event):
        """Deliver a room message from the channel layer to this socket."""
        await self.send_json(event)

    async def send_json(self, content):
        await self.send(text_data=json.dumps(content))


def parse_chat_frame(text_data):
    """Return (message, None) for a valid `{"message": "..."}` text frame, else (None, error)."""
    if text_data is None:
        return None, "send JSON text frames, not binary"
    try:
        content = json.loads(text_data)
    except ValueError:
        return None, "frame is not valid JSON"
    message = content.get("message") if isinstance(content, dict) else None
    if not isinstance(message, str) or not message.strip():
        return None, 'expected {"message": "<non-empty string>"}'
    if len(message) > MAX_MESSAGE_LENGTH:
        return None, f"message longer than {MAX_MESSAGE_LENGTH} characters"
    return message, None
