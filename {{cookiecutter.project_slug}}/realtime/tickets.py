"""One-time WebSocket tickets, kept in Django's cache (Redis when REDIS_URL is set).

A ticket is 256 random bits, lives WS_TICKET_TTL seconds, and is redeemed at most once: redeeming
deletes it, and only the caller whose delete removed the key wins. Deletion is atomic in Redis and
in the local-memory cache, so this holds between concurrent handshakes and between processes.
"""

import re
import secrets

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache

from realtime.handshake import Authentication

KEY_PREFIX = "ws-ticket:"
# secrets.token_urlsafe(32) is always 43 characters of the URL-safe base64 alphabet.
TICKET_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


def issue_ticket(user, token_expires_at: int | None = None) -> str:
    """Store a new ticket for `user` and return it."""
    ticket = secrets.token_urlsafe(32)
    cache.set(
        KEY_PREFIX + ticket,
        {"user_id": user.pk, "token_expires_at": token_expires_at},
        timeout=settings.WS_TICKET_TTL,
    )
    return ticket


async def redeem_ticket(ticket: str) -> Authentication | None:
    """Consume `ticket`: who it was for, until when the access token it was bought with is valid.

    None if it is unknown, used, or expired.
    Also None when the user has been deleted or deactivated since the ticket was issued.
    """
    # What cannot be a ticket is never looked up (nor turned into a cache key).
    if not TICKET_PATTERN.fullmatch(ticket):
        return None
    key = KEY_PREFIX + ticket
    claims = await cache.aget(key)
    # Exactly-once: of all the handshakes that read the claims, only one deletes the key.
    if claims is None or not await cache.adelete(key):
        return None
    user = await get_active_user(claims["user_id"])
    if user is None:
        return None
    return Authentication(user=user, expires_at=claims["token_expires_at"])


@database_sync_to_async
def get_active_user(user_id):
    """The user if they still exist and are active. Channels' wrapper closes stale connections."""
    user = get_user_model()._default_manager.filter(pk=user_id).first()
    return user if user is not None and user.is_active else None
