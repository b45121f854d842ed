"""Chat rooms that are not open to everyone.

A room name with no row here is public: every signed-in user may join it and send there (so
`lobby` works without any setup). A row with `private` set admits its `members` only; a public
row changes nothing, but keeps a name ready to be made private. Who may join and send is decided
in realtime.permissions; realtime.signals closes a member's sockets when they leave a room.
"""

import sys

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

# The names the WebSocket route accepts (realtime.routing): a row with any other name is unused.
ROOM_NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"


# Group names are interned: each open socket holds the names of the groups it joined, and
# sockets in the same groups then share one string per name (60 bytes per name and socket).


def room_group(room: str) -> str:
    """The channel-layer group of a room's sockets (its messages and rule changes)."""
    return sys.intern(f"chat.{room}")


def presence_group(room: str) -> str:
    """The channel-layer group of a room's sockets that asked for presence: the room's joins and
    leaves (realtime.presence) go there, so the other sockets are never sent them."""
    return sys.intern(f"presence.{room}")


class Room(models.Model):
    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(rf"\A{ROOM_NAME_PATTERN}\Z")],
        help_text="As in /ws/chat/<name>/: 1 to 64 of A-Z a-z 0-9 _ -",
    )
    private = models.BooleanField(
        default=False, help_text="Members only. Unticked, or no row at all: everyone signed in."
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="rooms")

    class Meta:
        ordering = ("name",)

    def __str__(self):
        return f"{self.name} (private)" if self.private else self.name
