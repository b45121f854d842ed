"""Every receiver of a signal about users (and the settings that answers about them depend on).

- A user's password changes, or they are deactivated or deleted: once the change commits, their
  live sockets close in every process (realtime.revocation); a change rolled back closes
  nothing, and a socket opened before the commit is still reached. Redis being unreachable then
  is logged as a warning and never fails the save.
- Any user is saved or deleted, or settings change: this process forgets its remembered answers
  about credentials (realtime.recent_answers), at once and again when the change commits (an
  answer looked up before the commit would hold the old state); other processes forget them
  within MAX_AGE.
- A member is removed from a private room (remove, clear, from either side; or the room is
  deleted): their sockets in that room close with 4403 `not_a_member`, in every process, through
  their user's group. A room becomes private (created so, changed, renamed): every socket in it
  asks realtime.permissions.can_join again, and closes the same way if refused. Any change to
  rooms or memberships forgets this process's remembered answers about rooms. Redis being
  unreachable then is logged as a warning and never fails the change; each socket it did not
  reach is asked again at its next in-band refresh (realtime.consumers).

Connected by RealtimeConfig.ready().
"""

import uuid
from functools import partial

from django.contrib.auth import get_user_model
from django.core.signals import setting_changed
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver

from realtime.models import Room, room_group
from realtime.recent_answers import recent_answers
from realtime.revocation import revoke_sessions_or_warn, send_or_warn, user_group

User = get_user_model()


@receiver(pre_save, sender=User)
def remember_credentials_before_save(sender, instance, **kwargs):
    """Note the stored password hash and active flag, to tell after saving whether they changed."""
    instance._credentials_before_save = (
        sender._default_manager.filter(pk=instance.pk).values("password", "is_active").first()
        if instance.pk is not None
        else None
    )


# Connected before the revocations: on commit, the memo is emptied before any socket is closed,
# so a client reconnecting at once is checked against the committed state.
@receiver(post_save, sender=User)
@receiver(post_delete, sender=User)
def forget_answers_when_a_user_changes(sender, using, **kwargs):
    """This process sees a change to a user at once; other processes within MAX_AGE."""
    recent_answers.clear()
    transaction.on_commit(recent_answers.clear, using=using)


@receiver(post_save, sender=User)
def revoke_sessions_when_credentials_change(sender, instance, created, using, **kwargs):
    before = getattr(instance, "_credentials_before_save", None)
    if created or before is None:
        return
    if instance.password != before["password"] or (before["is_active"] and not instance.is_active):
        transaction.on_commit(partial(revoke_sessions_or_warn, instance.pk), using=using)


@receiver(post_delete, sender=User)
def revoke_sessions_of_deleted_user(sender, instance, using, **kwargs):
    transaction.on_commit(partial(revoke_sessions_or_warn, instance.pk), using=using)


@receiver(setting_changed)
def forget_answers_when_settings_change(**kwargs):
    """Answers depend on settings too (SIMPLE_JWT, the user model): tests change them."""
    recent_answers.clear()


# Rooms (realtime.models.Room, realtime.permissions). Everything is sent once the change is
# committed: a client that reconnects at once must not be admitted on the old membership.


@receiver(pre_save, sender=Room)
def remember_room_before_save(sender, instance, **kwargs):
    instance._before_save = (
        sender._default_manager.filter(pk=instance.pk).values("name", "private").first()
        if instance.pk is not None
        else None
    )


@receiver(post_save, sender=Room)
def recheck_sockets_when_a_room_turns_private(sender, instance, **kwargs):
    """A room made private, or renamed to a private name: sockets already in it ask again."""
    before = getattr(instance, "_before_save", None)
    forget_answers_on_commit()
    newly_private = before is None or not before["private"] or before["name"] != instance.name
    if instance.private and newly_private:
        transaction.on_commit(partial(recheck_room, instance.name))


@receiver(m2m_changed, sender=Room.members.through)
def close_sockets_of_removed_members(sender, instance, action, reverse, pk_set, **kwargs):
    """Members removed from a private room (either side of the relation, remove or clear): their
    sockets in that room close with 4403 not_a_member, in every process."""
    if action in ("pre_clear", "pre_remove"):
        # Who is about to leave which private room, while the rows still say so.
        instance._leaving = leaving_pairs(instance, reverse, pk_set)
    elif action in ("post_clear", "post_remove"):
        pairs = getattr(instance, "_leaving", [])
        transaction.on_commit(partial(remove_from_rooms, pairs))
    if action.startswith("post_"):
        forget_answers_on_commit()


@receiver(pre_delete, sender=Room)
def remember_members_before_delete(sender, instance, **kwargs):
    # Deleting a room deletes its membership rows without m2m_changed.
    instance._leaving = leaving_pairs(instance, False, None)


@receiver(post_delete, sender=Room)
def close_sockets_of_a_deleted_rooms_members(sender, instance, **kwargs):
    """A deleted room's members are removed from it (its name is public from now on)."""
    transaction.on_commit(partial(remove_from_rooms, getattr(instance, "_leaving", [])))
    forget_answers_on_commit()


def leaving_pairs(instance, reverse, pk_set) -> list[tuple[object, str]]:
    """(user pk, room name) for each membership about to go, in private rooms only."""
    if reverse:  # instance is a user; pk_set are rooms (None: all of theirs)
        rooms = instance.rooms.filter(private=True)
        if pk_set is not None:
            rooms = rooms.filter(pk__in=pk_set)
        return [(instance.pk, name) for name in rooms.values_list("name", flat=True)]
    if not instance.private:
        return []
    members = instance.members.all()
    if pk_set is not None:
        members = members.filter(pk__in=pk_set)
    return [(pk, instance.name) for pk in members.values_list("pk", flat=True)]


# What the sockets do instead when a room's change cannot be sent (realtime.revocation).
UNTIL_REFRESH = "they are asked again at their next in-band refresh, or close with their token"


def remove_from_rooms(pairs) -> None:
    for user_pk, room in pairs:
        event = {"type": "room.removed", "room": room}
        send_or_warn(user_group(user_pk), event, UNTIL_REFRESH)


def recheck_room(room: str) -> None:
    # Every process that hears of this change forgets its remembered answers once.
    event = {"type": "room.recheck", "change": uuid.uuid4().hex}
    send_or_warn(room_group(room), event, UNTIL_REFRESH)


def forget_answers_on_commit() -> None:
    """Forget "may join / may send" answers now and once the change is committed (a lookup in
    between could remember the old rows)."""
    recent_answers.clear()
    transaction.on_commit(recent_answers.clear)
