"""WebSocket URL routes. Anything that matches no route is refused at the handshake."""

from django.urls import re_path

from realtime.authentication import deny_handshake
from realtime.consumers import ChatConsumer

websocket_urlpatterns = [
    # Room names are what channel-layer group names allow, and short.
    re_path(r"^ws/chat/(?P<room>[A-Za-z0-9_-]{1,64})/$", ChatConsumer.as_asgi()),
    # Without this, an unknown path makes Channels' URLRouter raise, which servers turn into a 500.
    re_path(r"", deny_handshake),
]
