"""Closing a user's live sockets in every server process.

Every authenticated socket joins its user's group on the channel layer (realtime.consumers), so
one group_send reaches all of that user's sockets in every process that shares the layer (with
Redis). Each socket then closes with LOGGED_OUT (realtime.close_codes). Logging out
(realtime.views.LogoutView) and the user changes in realtime.signals call it.

The broadcast ends within CHANNEL_LAYER_TIMEOUT seconds: when the layer's Redis does not answer,
revoke_sessions raises one of realtime.redis_outages.REDIS_UNAVAILABLE instead of hanging.
"""

from channels.layers import get_channel_layer

from realtime.redis_outages import within_deadline


def user_group(user_pk) -> str:
    """The channel-layer group holding every socket of one user."""
    return f"user.{user_pk}"


async def revoke_sessions(user_pk) -> None:
    """Close every live socket of this user, in every process that shares the channel layer."""
    event = {"type": "session.revoke"}
    await within_deadline(get_channel_layer().group_send(user_group(user_pk), event))
