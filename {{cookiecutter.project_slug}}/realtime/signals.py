"""Every receiver of a signal about users (and the settings that answers about them depend on).

- A user's password changes, or they are deactivated or deleted: once the change commits, their
  live sockets close in every process (realtime.revocation); a change rolled back closes
  nothing, and a socket opened before the commit is still reached. Redis being unreachable then
  is logged as a warning and never fails the save.
- Any user is saved or deleted, or settings change: this process forgets its remembered answers
  about credentials (realtime.recent_answers), at once and again when the change commits (an
  answer looked up before the commit would hold the old state); other processes forget them
  within MAX_AGE.

Connected by RealtimeConfig.ready().
"""

from functools import partial

from django.contrib.auth import get_user_model
from django.core.signals import setting_changed
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from realtime.recent_answers import recent_answers
from realtime.revocation import revoke_sessions_or_warn

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
