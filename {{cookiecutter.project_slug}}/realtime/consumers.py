"""The sample consumer: a chat room whose messages go to every socket in it, in every process."""

import json

from channels.generic.websocket import AsyncWebsocketConsumer

MAX_MESSAGE_LENGTH = 4000


class ChatConsumer(AsyncWebsocketConsumer):
    """`/ws/chat/<room>/`: send `{"message": "..."}`; everyone in the room gets a `chat.message`.

    Only authenticated users reach this consumer: the auth middleware refuses everyone else at the
    handshake. A malformed frame gets an `error` reply and the socket stays open.
    """

    async def connect(self):
        self.room = self.scope["url_route"]["kwargs"]["room"]
        self.group_name = f"chat.{self.room}"
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
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
