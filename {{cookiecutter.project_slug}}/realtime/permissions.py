"""Who may join which chat room, and who may send there: the one module to edit for other rules.

The chat consumer asks `can_join` at the handshake (False: refused with HTTP 403) and `can_send`
before every message it sends to the room (False: an `error` frame, the socket stays open). Both
are coroutines on the event loop: reach the database through database_sync_to_async only. The
consumer remembers each answer for at most a second (realtime.recent_answers), so a rule change
reaches every process within a second; realtime.signals closes the sockets of a member removed
from a room at once.

The rules shipped: a room with no realtime.models.Room row, or whose row is not private, is public
(every signed-in user); a private room admits its members. The names of the private rooms are
read once a second per process, so that a handshake to a public room costs no query.
"""

from channels.db import database_sync_to_async

from realtime.models import Room
from realtime.recent_answers import recent_answers


async def can_join(user, room: str) -> bool:
    """May `user` (authenticated, active) open a socket in the room named `room`?"""
    if room not in await recent_answers.get("private rooms", private_rooms):
        return True
    return await database_sync_to_async(is_member)(user.pk, room)


async def can_send(user, room: str) -> bool:
    """May `user`, whose socket is in `room`, send a message there? Here: whoever may join."""
    return await can_join(user, room)


@database_sync_to_async
def private_rooms() -> frozenset[str]:
    return frozenset(Room.objects.filter(private=True).values_list("name", flat=True))


def is_member(user_pk, room: str) -> bool:
    return Room.objects.filter(name=room, members__pk=user_pk).exists()
