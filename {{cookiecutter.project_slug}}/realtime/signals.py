"""Every receiver of a signal about users (and the settings that answers about them depend on).

- A user's password changes, or they are deactivated or deleted: their live sockets close in
  every process (realtime.revocation).
- Any user is saved or deleted, or settings change: this process forgets its remembered answers
  about credentials (realtime.recent_answers); other processes forget them within MAX_AGE.

Connected by RealtimeConfig.ready().
"""

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from realtime.recent_answers import recent_answers
from realtime.revocation import revoke_sessions

User = get_user_model()


@receiver(pre_save, sender=User)
def remember_credentials_before_save(sender, instance, **kwargs):
    """Note the stored password hash and active flag, to tell after saving whether they changed."""
    instance._credentials_before_save = (
        sender._default_manager.filter(pk=instance.pk).values("password", "is_active").first()
        if instance.pk is not None
        else None
    )


@receiver(post_save, sender=User)
def revoke_sessions_when_credentials_change(sender, instance, created, **kwargs):
    before = getattr(instance, "_credentials_before_save", None)
    if created or before is None:
        return
    if instance.password != before["password"] or (before["is_active"] and not instance.is_active):
        async_to_sync(revoke_sessions)(instance.pk)


@receiver(post_delete, sender=User)
def revoke_sessions_of_deleted_user(sender, instance, **kwargs):
    async_to_sync(revoke_sessions)(instance.pk)


@receiver(post_save, sender=User)
@receiver(post_delete, sender=User)
def forget_answers_when_a_user_changes(sender, **kwargs):
    """This process sees a change to a user at once; other processes within MAX_AGE."""
    recent_answers.clear()


@receiver(setting_changed)
def forget_answers_when_settings_change(**kwargs):
    """Answers depend on settings too (SIMPLE_JWT, the user model): tests change them."""
    recent_answers.clear()
