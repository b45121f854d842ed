"""Ending live WebSocket sessions: close codes, per-user groups, and what revokes a user's sockets.

Every authenticated socket joins its user's group on the channel layer (realtime.consumers), so
one group_send reaches all of that user's sockets in every server process (with Redis). Logging
out (`POST /api/logout/`), deactivating the user, changing their password or deleting them sends
`session.revoke` there, and each socket closes with 4401 `logged_out`.
"""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenBlacklistView

# Close codes, following graphql-ws: 44xx mirror the HTTP status a request would have got.
# (code, reason): what the client should do is in the README's close-code table.
TOKEN_EXPIRED = (4401, "token_expired")  # get a fresh credential, reconnect
LOGGED_OUT = (4401, "logged_out")  # sign in again
AUTH_FAILED = (4403, "auth_failed")  # in-band refresh refused: stop, sign in again


def user_group(user_pk) -> str:
    """The channel-layer group holding every socket of one user."""
    return f"user.{user_pk}"


async def revoke_sessions(user_pk) -> None:
    """Close every live socket of this user, in every process that shares the channel layer."""
    await get_channel_layer().group_send(user_group(user_pk), {"type": "session.revoke"})


class LogoutView(TokenBlacklistView):
    """`POST /api/logout/` with `{"refresh": "..."}`: blacklist it, and close the user's sockets.

    simplejwt's blacklist view checks and blacklists the refresh token (401 if it is invalid or
    already blacklisted); holding the refresh token is the proof of identity. Access tokens stay
    valid until they expire, as everywhere with stateless JWTs: keep them short-lived.
    """

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        # Verified and blacklisted just above: read its user without checking it again.
        refresh = RefreshToken(request.data["refresh"], verify=False)
        async_to_sync(revoke_sessions)(refresh[api_settings.USER_ID_CLAIM])
        return response


@receiver(pre_save, sender=get_user_model())
def remember_credentials_before_save(sender, instance, **kwargs):
    """Note the stored password hash and active flag, to tell after saving whether they changed."""
    instance._sessions_before_save = (
        sender._default_manager.filter(pk=instance.pk).values("password", "is_active").first()
        if instance.pk is not None
        else None
    )


@receiver(post_save, sender=get_user_model())
def revoke_sessions_when_credentials_change(sender, instance, created, **kwargs):
    before = getattr(instance, "_sessions_before_save", None)
    if created or before is None:
        return
    if instance.password != before["password"] or (before["is_active"] and not instance.is_active):
        async_to_sync(revoke_sessions)(instance.pk)


@receiver(post_delete, sender=get_user_model())
def revoke_sessions_of_deleted_user(sender, instance, **kwargs):
    async_to_sync(revoke_sessions)(instance.pk)
