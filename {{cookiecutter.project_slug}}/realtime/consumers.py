"""WebSocket consumers: a base that keeps a socket no longer than its credential, and the sample
chat room whose messages go to every socket in it, in every process."""

import asyncio
import functools
import json
import logging
import time

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from realtime.access_tokens import authenticate_access_token, leeway_seconds
from realtime.close_codes import (
    AUTH_FAILED,
    BAD_REQUEST,
    LOGGED_OUT,
    MESSAGE_TOO_BIG,
    NOT_A_MEMBER,
    RATE_LIMITED,
    TOKEN_EXPIRED,
    TOO_MANY_CONNECTIONS,
    TOO_SLOW,
    TRY_AGAIN_LATER,
)
from realtime.credentials import query_params
from realtime.deadlines import SharedDeadline, shared_deadline
from realtime.dispatch import LoopDispatchMixin
from realtime.history import (
    GAP_TOO_OLD,
    HISTORY_LOST,
    HistoryRead,
    Since,
    parse_since,
    resume,
    room_history,
)
from realtime.limits import ALLOWED, CLOSE, MessageRate, connection_slots
from realtime.models import presence_group, room_group
from realtime.permissions import can_join, can_send
from realtime.presence import leave_quietly, presence_tracker
from realtime.recent_answers import recent_answers
from realtime.redis_outages import REDIS_UNAVAILABLE, DeadlineLayer
from realtime.revocation import user_group

logger = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 4000


class SessionConsumer(LoopDispatchMixin, AsyncWebsocketConsumer):
    """A JSON consumer for authenticated sockets that live only as long as their credential.

    - Expiry: the socket closes with 4401 `token_expired` when the access token behind it
      (scope["auth_expires_at"], set by the auth middleware) expires, plus SIMPLE_JWT's LEEWAY.
    - In-band refresh: `{"type": "auth", "token": "<access JWT>"}` of the same user and session
      (scope["auth_session"], realtime.sign_ins) moves the deadline and answers
      `{"type": "auth.ok", "expires_at": ...}`; anything else closes with 4403 `auth_failed`.
    - Revocation: the socket is in its user's group (realtime.revocation), and closes with 4401
      `logged_out` on a `session.revoke` for all the user's sessions or for its own.
    - Limits (realtime.limits): past WS_MAX_CONNECTIONS_PER_USER open sockets, a new one is
      accepted and closed with 4429 `too_many_connections`; frames past the socket's rate get a
      `rate_limited` error, then a close with 4429 `rate_limited`; a frame over
      WS_MAX_FRAME_BYTES closes the socket with 1009.

    - Backlog: when the channel layer dropped this socket's messages because its client read too
      slowly (realtime.layers, CHANNEL_BACKLOG_LIMIT), the socket closes with 4408 `too_slow`.

    A timer fires at the socket's next deadline: expiry (one timer for all the sockets whose
    credentials expire at the same moment, realtime.deadlines), or re-joining the socket's groups
    before a channel layer with a group_expiry forgets them (the core layer; the Pub/Sub layer
    forgets no member). The socket leaves it on disconnect. Subclasses join groups with
    `join_group`, accept with `offered_subprotocol()`, and get each other JSON object frame in
    `receive_json`.
    When the channel layer's Redis is unreachable, or does not answer a call within
    CHANNEL_LAYER_TIMEOUT seconds (every call but the layer's idle `receive` has that deadline:
    DeadlineLayer), the socket closes with 1013 (try again later), accepted first if the failure
    came during its handshake: a browser sees no HTTP status, and takes a refused handshake for a
    refused credential (client.js stops after two), while a 1013 makes it retry later. A socket
    whose channel-layer call fails later (sending, on the Pub/Sub layer; any, on the core layer)
    closes with 1013 too. Each logs one warning, and the server process carries on. Leaving the
    socket's groups is never cut short: a leave past its deadline finishes unawaited, and a group
    whose join failed is left too.

    Handlers run on the event loop with no thread hop first (LoopDispatchMixin), also for each
    chat message delivered: subclasses reach the database through database_sync_to_async only.
    """

    # One consumer per open socket, so its own attributes are slots. Measured reason: in the
    # instance dict, CPython 3.11 gave each consumer a dict of its own (768 B per idle socket by
    # tracemalloc): a burst of handshakes used up the room of the class's shared key table
    # before the attributes set after the handshake's first await were in it.
    __slots__ = (
        "_channel_layer",
        "accepted",
        "client_gone",
        "expires_at",
        "holds_slot",
        "joined_groups",
        "max_frame_bytes",
        "message_rate",
        "session_watch",
        "slots",
    )
    # The application subprotocol this consumer speaks, accepted when the client offers it.
    subprotocol = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._channel_layer = None
        self.accepted = False
        self.client_gone = False
        self.expires_at = None
        self.holds_slot = False
        self.joined_groups = ()  # each group once, in the order joined
        self.max_frame_bytes = None
        self.message_rate = None  # made at the socket's first frame (message_limit)
        # The next deadline's SharedDeadline or TimerHandle, or the task of its step.
        self.session_watch = None
        self.slots = None

    @property
    def channel_layer(self):
        return self._channel_layer

    @channel_layer.setter
    def channel_layer(self, layer):
        # Channels sets it, then calls new_channel() on it: that call gets its deadline too.
        self._channel_layer = None if layer is None else DeadlineLayer.around(layer)

    @classmethod
    def as_asgi(cls, **initkwargs):
        """Channels' ASGI application of this consumer, which also handles a Redis outage met
        by any channel-layer call of the socket (join, the layer's receive loop, send, leave).

        The handling is in the application rather than in an override of __call__. Measured
        reason: that override's coroutine lived as long as the socket (0.26 KiB per idle
        socket, by tracemalloc).
        """
        channels_app = super().as_asgi(**initkwargs)

        async def app(scope, receive, send):
            consumer = cls(**initkwargs)
            try:
                await consumer(scope, receive, send)
            except REDIS_UNAVAILABLE as error:
                await consumer.redis_unavailable(scope, send, error)

        # Channels' name, docstring, consumer_class and consumer_initkwargs.
        return functools.update_wrapper(app, channels_app)

    async def redis_unavailable(self, scope, send, error):
        """Close the socket with 1013 after a Redis outage ended its consumer, accepting it first
        if the outage came during its handshake."""
        logger.warning("Redis unavailable, closed %s: %s", scope["path"], error)
        if not self.client_gone:
            # Channels stores `send` only after new_channel(), which may be what failed.
            self.base_send = send
            if not self.accepted:
                await self.accept(self.offered_subprotocol())
            await self.close(*TRY_AGAIN_LATER)
        # websocket_disconnect will not run: stop the watch and leave what the socket joined.
        self.stop_session_watch()
        await self.leave_groups()

    async def accept(self, subprotocol=None, headers=None):
        await super().accept(subprotocol, headers)
        self.accepted = True

    async def websocket_connect(self, message):
        self.expires_at = self.scope.get("auth_expires_at")
        self.max_frame_bytes = settings.WS_MAX_FRAME_BYTES
        self.slots = self.connection_limit()
        if not await self.slots.acquire(self.scope["user"].pk, self.channel_name, self.deadline()):
            # Accepted, then closed: a refused handshake would not tell the client why.
            await self.accept(self.offered_subprotocol())
            await self.close(*TOO_MANY_CONNECTIONS)
            return
        self.holds_slot = True
        await self.join_group(user_group(self.scope["user"].pk))
        self.start_session_watch()
        await super().websocket_connect(message)

    async def websocket_disconnect(self, message):
        self.client_gone = True  # from here on there is no socket left to close
        self.stop_session_watch()
        outage = await self.leave_groups()
        if self.holds_slot:
            try:
                await self.slots.release(self.scope["user"].pk, self.channel_name)
            except REDIS_UNAVAILABLE as error:
                outage = error  # the slot stops counting when the credential expires
        if outage is not None:
            logger.warning("Redis unavailable while %s closed: %s", self.scope["path"], outage)
        await super().websocket_disconnect(message)

    async def leave_groups(self):
        """Leave every group the socket joined, or began to join; the outage met on the way, if
        any. A leave that passes its deadline still finishes, unawaited (DeadlineLayer)."""
        outage = None
        for group in self.joined_groups:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except REDIS_UNAVAILABLE as error:
                outage = error
        self.joined_groups = ()
        return outage

    def message_limit(self) -> MessageRate:
        """This socket's frame rate: `take()` per frame says ALLOWED, REFUSED or CLOSE."""
        return MessageRate.from_settings()

    def connection_limit(self):
        """Where this socket holds one of its user's WS_MAX_CONNECTIONS_PER_USER slots."""
        return connection_slots()

    def offered_subprotocol(self):
        """This consumer's subprotocol if the client offered it, else None.

        Never anything else the client offered: in the subprotocol auth mode, that is its token.
        """
        if self.subprotocol in self.scope.get("subprotocols", ()):
            return self.subprotocol
        return None

    async def join_group(self, group):
        # Counted as joined before the layer is asked: a join that fails past its deadline may
        # have registered the member all the same, and the socket leaves it on its way out.
        if group not in self.joined_groups:
            self.joined_groups = (*self.joined_groups, group)
        await self.channel_layer.group_add(group, self.channel_name)

    def start_session_watch(self):
        """Schedule the socket's next deadline: its credential's expiry, or re-joining its groups
        before a channel layer with a group_expiry forgets them (the core layer).

        Timers rather than sleeping tasks (a task cost 0.9 KiB more per idle socket, by
        tracemalloc): the expiry's is shared with every socket of this event loop whose
        credential expires at the same moment (realtime.deadlines), the re-join's is the
        socket's own TimerHandle. When one fires, a short task does the step and schedules the
        next one.
        """
        group_expiry = getattr(self.channel_layer, "group_expiry", None)
        rejoin_every = group_expiry / 2 if group_expiry else None
        remaining = self.seconds_left()
        if remaining is None and rejoin_every is None:
            self.session_watch = None  # no expiry, and a layer that forgets no member
        elif rejoin_every is None or (remaining is not None and remaining <= rejoin_every):
            self.session_watch = shared_deadline(self.deadline(), self)
        else:
            loop = asyncio.get_running_loop()
            self.session_watch = loop.call_later(rejoin_every, self.rejoin_due)

    def stop_session_watch(self):
        watch, self.session_watch = self.session_watch, None
        if isinstance(watch, SharedDeadline):
            watch.leave(self)
        elif watch is not None:
            watch.cancel()  # a TimerHandle, or the task of a step under way

    def expiry_due(self):
        self.session_watch = asyncio.ensure_future(self.expire())

    def rejoin_due(self):
        self.session_watch = asyncio.ensure_future(self.rejoin_groups())

    async def expire(self):
        if self.seconds_left() > 0:  # the loop's clock ran ahead of the wall clock
            self.start_session_watch()
        else:
            await self.close(*TOKEN_EXPIRED)

    async def rejoin_groups(self):
        try:
            for group in self.joined_groups:
                await self.channel_layer.group_add(group, self.channel_name)
        except REDIS_UNAVAILABLE as error:
            logger.warning("Redis unavailable, closed %s: %s", self.scope["path"], error)
            await self.close(*TRY_AGAIN_LATER)
            return
        self.start_session_watch()

    def seconds_left(self):
        """Until the credential expires, SIMPLE_JWT's LEEWAY included; None if it never does."""
        if self.expires_at is None:
            return None
        return self.expires_at + leeway_seconds() - time.time()

    async def channel_backlog_exceeded(self, event):
        """The layer stopped queuing for this socket: its client is too slow (realtime.layers)."""
        await self.close(*TOO_SLOW)

    def deadline(self):
        """When the credential expires (Unix time), SIMPLE_JWT's LEEWAY included, or None."""
        return None if self.expires_at is None else self.expires_at + leeway_seconds()

    async def session_revoke(self, event):
        """The user logged out (of this socket's session, or everywhere), was deactivated or
        deleted, or changed password."""
        session = event.get("session")
        if session is None or session == self.scope.get("auth_session"):
            await self.close(*LOGGED_OUT)

    async def room_removed(self, event):
        """The user was removed from a room (sent on their group): subclasses in rooms act on it."""

    async def receive(self, text_data=None, bytes_data=None):
        if frame_bytes_over(text_data, bytes_data, self.max_frame_bytes):
            await self.close(*MESSAGE_TOO_BIG)
            return
        if self.message_rate is None:
            # Made at the first frame, full: as full as one made at the handshake would be now.
            self.message_rate = self.message_limit()
        if (verdict := self.message_rate.take()) is not ALLOWED:
            if verdict is CLOSE:
                await self.close(*RATE_LIMITED)
            else:
                retry_after = self.message_rate.retry_after()
                await self.send_json(
                    {"type": "error", "error": "rate_limited", "retry_after": retry_after}
                )
            return
        content, error = parse_json_object(text_data)
        if error:
            await self.send_json({"type": "error", "error": error})
        elif content.get("type") == "auth":
            await self.refresh_auth(content.get("token"))
        else:
            await self.receive_json(content)

    async def refresh_auth(self, raw_token):
        auth = await authenticate_access_token(raw_token)
        if (
            auth is None
            or auth.user.pk != self.scope["user"].pk
            or auth.session_id != self.scope.get("auth_session")
        ):
            await self.close(*AUTH_FAILED)
            return
        self.expires_at = auth.expires_at
        # Restart the watch so that it sleeps until the new deadline.
        self.stop_session_watch()
        self.start_session_watch()
        await self.slots.extend(self.scope["user"].pk, self.channel_name, self.deadline())
        await self.send_json({"type": "auth.ok", "expires_at": auth.expires_at})
        await self.credential_refreshed()

    async def credential_refreshed(self):
        """After a successful in-band refresh: subclasses check again what the socket may do."""

    async def receive_json(self, content):
        raise NotImplementedError

    async def send_json(self, content):
        await self.send(text_data=json.dumps(content))


class ChatConsumer(SessionConsumer):
    """`/ws/chat/<room>/`: send `{"message": "..."}`; everyone in the room gets a `chat.message`.

    Clients may offer the `chat.v1` subprotocol (in the subprotocol auth mode they must, next to
    their token); the handshake then accepts with it.

    Only authenticated users reach this consumer: the auth middleware refuses everyone else at the
    handshake. A malformed frame gets an `error` reply and the socket stays open.

    Room permissions (realtime.permissions): a user who may not join the room is refused at the
    handshake (HTTP 403); one who may not send gets an `error` reply. Their answers are
    remembered for at most a second (realtime.recent_answers). A socket closes with 4403
    `not_a_member` when its user is removed from the room (`room.removed`, on the user's group)
    or when the room's rules change and they no longer admit it (`room.recheck`, on the room's),
    and at its next in-band refresh if such a broadcast never reached it (Redis was down).

    Presence and history (CHAT_PRESENCE, CHAT_HISTORY; realtime.presence, realtime.history):
    every socket admitted to the room is in its presence, and every message gets the room's next
    position. The handshake's query asks for more (`sync_request`): `presence=1`, the room's
    members now (`presence.state`) and their joins and leaves (`presence.diff`); `history=1`, a
    `history` frame with the room's epoch and position, and chat frames that carry theirs;
    `epoch=<epoch>&position=<n>` (history implied), every message after that position, in the
    `history` frame, before any live one, each exactly once. A malformed query gets an `error`
    frame and a close with 4400 `bad_request`. Without them, frames are as they always were.

    Exactly once: the socket joins the room's group before it reads the history, so a message is
    in the read, or arrives live afterwards, or both; it then delivers live messages only past
    the last position it sent. A live message past the next position (messages of concurrent
    publishers may arrive out of order) first brings the ones between from the history; when
    the history no longer holds them all (trimmed, or lost), the socket gets none of them and a
    `history` frame with `gap_too_old` instead, as on resume, before the live message.
    """

    __slots__ = ("epoch", "position", "presence_ref", "room", "room_group")
    subprotocol = "chat.v1"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The socket's epoch and the last position it delivered; None: it asked for no history.
        self.epoch = self.position = None
        self.presence_ref = None  # its entry in the room's presence, once it has one
        self.room = self.room_group = None

    async def connect(self):
        self.room = self.scope["url_route"]["kwargs"]["room"]
        self.room_group = room_group(self.room)
        user = self.scope["user"]
        if not await recent_answers.get(
            ("may join", user.pk, self.room), lambda: can_join(user, self.room)
        ):
            await self.close()  # before accept(): the handshake is refused with HTTP 403
            return
        try:
            wants_presence, wants_history, since = sync_request(self.scope)
        except ValueError as error:
            await self.accept(self.offered_subprotocol())
            await self.send_json({"type": "error", "error": str(error)})
            await self.close(*BAD_REQUEST)
            return
        await self.join_group(self.room_group)
        # From here on every message published in the room reaches this socket live.
        if wants_history and settings.CHAT_HISTORY:
            outcome, read = await resume(self.room, since)
        # Accepted before presence announces the join: a channel layer that stalls then closes
        # the socket with 1013 instead of refusing the handshake.
        await self.accept(self.offered_subprotocol())
        if settings.CHAT_PRESENCE:
            if wants_presence:
                # Joined before the state is read: no join or leave after it is missed.
                await self.join_group(presence_group(self.room))
            tracker = presence_tracker(presence_group)
            self.presence_ref, members = await tracker.join(self.room, user.get_username())
            if wants_presence:
                state = {"type": "presence.state", "room": self.room, "members": members}
                await self.send_json(state)
        if wants_history and settings.CHAT_HISTORY:
            self.epoch, self.position = read.epoch, read.top
            await self.send(text_data=history_frame(self.room, outcome, read))

    async def websocket_disconnect(self, message):
        if self.presence_ref is not None:
            await leave_quietly(presence_tracker(presence_group), self.room, self.presence_ref)
        await super().websocket_disconnect(message)

    async def receive_json(self, content):
        message = content.get("message")
        if not isinstance(message, str) or not message.strip():
            await self.send_json({"type": "error", "error": 'expected {"message": "<text>"}'})
            return
        if len(message) > MAX_MESSAGE_LENGTH:
            error = f"message longer than {MAX_MESSAGE_LENGTH} characters"
            await self.send_json({"type": "error", "error": error})
            return
        user = self.scope["user"]
        if not await recent_answers.get(
            ("may send", user.pk, self.room), lambda: can_send(user, self.room)
        ):
            await self.send_json({"type": "error", "error": "not allowed to send in this room"})
            return
        event = {
            "type": "chat.message",
            "room": self.room,
            "user": self.scope["user"].get_username(),
            "message": message,
        }
        if settings.CHAT_HISTORY:
            epoch, position = await room_history().append(self.room, json.dumps(event))
            event["epoch"], event["position"] = epoch, position
        await self.channel_layer.group_send(self.room_group, event)

    async def chat_message(self, event):
        """Deliver a room message from the channel layer to this socket, once, in order."""
        if self.position is None:
            await self.send_json({k: v for k, v in event.items() if k not in POSITION_FIELDS})
            return
        position = event.get("position")
        if position is None:  # published with CHAT_HISTORY off (a server of another setting)
            await self.send_json(event)
            return
        if event["epoch"] != self.epoch:
            # The history was lost while this socket was open: positions restarted.
            self.epoch, self.position = event["epoch"], 0
            lost = HistoryRead(self.epoch, 0, [])
            await self.send(text_data=history_frame(self.room, HISTORY_LOST, lost))
        if position <= self.position:
            return  # sent already, from the history
        if position > self.position + 1:
            await self.catch_up(before=position)
        await self.send_json(event)
        self.position = position

    async def catch_up(self, before: int):
        """Send the kept messages between the last position sent and `before`; when the history
        no longer holds every one of them (trimmed by CHAT_HISTORY_SIZE or CHAT_HISTORY_TTL, or
        lost), send none and say so, as resume does: a `history` frame, `gap_too_old`, at
        position `before - 1`. A message is never skipped without a word."""
        read = await room_history().read(self.room, after=self.position)
        missed = [(position, payload) for position, payload in read.entries if position < before]
        if read.epoch != self.epoch or [position for position, _ in missed] != list(
            range(self.position + 1, before)
        ):
            self.position = before - 1
            gap = HistoryRead(self.epoch, self.position, [])
            await self.send(text_data=history_frame(self.room, GAP_TOO_OLD, gap))
            return
        for position, payload in missed:
            await self.send(text_data=chat_frame(payload, read.epoch, position))
            self.position = position

    async def presence_diff(self, event):
        """Joins and leaves of the room's sockets (realtime.presence): only the sockets that
        asked for presence are in the group they are sent to."""
        await self.send_json(event)

    async def room_removed(self, event):
        """The user was removed from a room (sent to all of their sockets): leave if it is this."""
        if event["room"] == self.room:
            await self.close(*NOT_A_MEMBER)

    async def credential_refreshed(self):
        """A removal or rule change whose broadcast never arrived (Redis was down) ends here at
        the latest: a socket that keeps refreshing its token is asked again each time."""
        if not await can_join(self.scope["user"], self.room):
            await self.close(*NOT_A_MEMBER)

    async def room_recheck(self, event):
        """The room's rules changed: ask again, past any answer remembered before the change."""
        recent_answers.clear_once(event["change"])
        if not await can_join(self.scope["user"], self.room):
            await self.close(*NOT_A_MEMBER)


# What a chat event carries for sockets that asked for history, and others do not get.
POSITION_FIELDS = ("epoch", "position")
# The handshake's query parameters of sync_request, and the value that turns a switch on.
SYNC_PARAMETERS = ("presence", "history", "epoch", "position")
ON = "1"


def sync_request(scope) -> tuple[bool, bool, Since | None]:
    """(presence, history, since) as the handshake's query asks; ValueError when malformed."""
    values: dict[str, str] = {}
    for name, value in query_params(scope) or ():
        if name in SYNC_PARAMETERS:
            if name in values:
                raise ValueError(f"{name} given more than once")
            values[name] = value
    for switch in ("presence", "history"):
        if values.get(switch, ON) != ON:
            raise ValueError(f"{switch} must be {ON}")
    since = None
    if "epoch" in values or "position" in values:
        if "epoch" not in values or "position" not in values:
            raise ValueError("resume needs both epoch and position")
        since = parse_since(values["epoch"], values["position"])
    return "presence" in values, "history" in values or since is not None, since


def chat_frame(payload: str, epoch: str, position: int) -> str:
    """A kept message's frame: its payload (a JSON object) with its epoch and position added,
    as json.dumps writes a live one."""
    return f'{payload[:-1]}, "epoch": {json.dumps(epoch)}, "position": {position}}}'


def history_frame(room: str, outcome: str, read: HistoryRead) -> str:
    """The `history` frame: where the room is, what `resume` found, and the messages to send."""
    head = json.dumps({"type": "history", "room": room, "epoch": read.epoch, "position": read.top})
    messages = ", ".join(
        chat_frame(payload, read.epoch, position) for position, payload in read.entries
    )
    return f'{head[:-1]}, "resume": {json.dumps(outcome)}, "messages": [{messages}]}}'


def frame_bytes_over(text_data, bytes_data, limit: int) -> bool:
    """Whether a frame is longer than `limit` bytes (a text frame: in UTF-8, as it was sent)."""
    if text_data is None:
        return len(bytes_data or b"") > limit
    # Four bytes at most per character: only long frames need encoding to tell.
    return len(text_data) * 4 > limit and len(text_data.encode("utf-8", "surrogatepass")) > limit


def parse_json_object(text_data):
    """Return (content, None) for a text frame holding a JSON object, else (None, error)."""
    if text_data is None:
        return None, "send JSON text frames, not binary"
    try:
        content = json.loads(text_data)
    except ValueError:
        return None, "frame is not valid JSON"
    if not isinstance(content, dict):
        return None, "expected a JSON object"
    return content, None
