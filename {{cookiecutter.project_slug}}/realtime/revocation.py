"""Closing live sockets in every server process: all of a user's, or those of one session.

Every authenticated socket joins its user's group on the channel layer (realtime.consumers), so
one group_send reaches all of that user's sockets in every process that shares the layer (with
Redis). An event naming a session closes only the sockets opened with that session's tokens
(realtime.sign_ins): no group per session, so a handshake joins no extra group. Each socket
closes with LOGGED_OUT (realtime.close_codes). Logging out (realtime.views) and the user changes
in realtime.signals call it.

This only closes sockets that are open: what keeps revoked credentials from opening new ones is
the check in realtime.sign_ins. The broadcast ends within CHANNEL_LAYER_TIMEOUT seconds: when the
layer's Redis does not answer, revoke_sessions raises one of realtime.redis_outages.
REDIS_UNAVAILABLE instead of hanging.
"""

import logging
import sys

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from realtime.redis_outages import REDIS_UNAVAILABLE, within_deadline

logger = logging.getLogger(__name__)


def user_group(user_pk) -> str:
    """The channel-layer group holding every socket of one user. Interned, as realtime.models'
    group names: each of the user's open sockets holds it."""
    return sys.intern(f"user.{user_pk}")


async def revoke_sessions(user_pk, session_id: str | None = None) -> None:
    """Close every live socket of this user (only those of `session_id`, if given), in every
    process that shares the channel layer."""
    await send_within_deadline(user_group(user_pk), revoke_event(session_id))


def revoke_sessions_or_warn(user_pk) -> None:
    """revoke_sessions from sync code that must not fail because Redis is down (a model save):
    the outage is logged as one warning, and the sockets close when their access tokens expire."""
    consequence = "they close when their access tokens expire"
    send_or_warn(user_group(user_pk), revoke_event(None), consequence)


def revoke_event(session_id: str | None) -> dict:
    return {"type": "session.revoke", "session": session_id}


def send_or_warn(group: str, event: dict, consequence: str) -> None:
    """group_send from sync code that must not fail because Redis is down (a change, once
    committed), within CHANNEL_LAYER_TIMEOUT: an outage is logged as one warning that ends with
    `consequence`, what the sockets do instead."""
    try:
        async_to_sync(send_within_deadline)(group, event)
    except REDIS_UNAVAILABLE as error:
        message = "Redis unavailable, %s to %s not sent (%s): %s"
        logger.warning(message, event["type"], group, consequence, error)


async def send_within_deadline(group: str, event: dict) -> None:
    await within_deadline(get_channel_layer().group_send(group, event))
