"""Who may join which chat room, and who may send there: the one module to edit for other rules.

The chat consumer asks `can_join` at the handshake (False: refused with HTTP 403) and `can_send`
before every message it sends to the room (False: an `error` frame, the socket stays open). Both
are coroutines on the event loop: reach the database through database_sync_to_async only.

The rules shipped: a room with no realtime.models.Room row, or whose row is not private, is public
(every signed-in user); a private room admits its members. The consumer remembers each answer for
at most a second (realtime.recent_answers), so a rule change reaches every process within a
second; realtime.signals closes the sockets of a member removed from a room at once.
"""

from channels.db import database_sync_to_async

from realtime.models import Room


async def can_join(user, room: str) -> bool:
    """May `user` (authenticated, active) open a socket in the room named `room`?"""
    return await database_sync_to_async(is_public_or_member)(user.pk, room)


async def can_send(user, room: str) -> bool:
    """May `user`, whose socket is in `room`, send a message there? Here: whoever may join."""
    return await can_join(user, room)


def is_public_or_member(user_pk, room: str) -> bool:
    # One query: is there a private room of that name whose members do not include the user?
    return not Room.objects.filter(name=room, private=True).exclude(members__pk=user_pk).exists()
