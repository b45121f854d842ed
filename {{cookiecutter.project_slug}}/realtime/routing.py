"""WebSocket URL routes. Anything that matches no route is refused at the handshake."""

from django.urls import re_path

from realtime.authentication import deny_handshake
from realtime.consumers import ChatConsumer
from realtime.models import ROOM_NAME_PATTERN

websocket_urlpatterns = [
    # Room names are what channel-layer group names allow, and short.
    re_path(rf"^ws/chat/(?P<room>{ROOM_NAME_PATTERN})/$", ChatConsumer.as_asgi()),
    # Without this, an unknown path makes Channels' URLRouter raise, which servers turn into a 500.
    re_path(r"", deny_handshake),
]
