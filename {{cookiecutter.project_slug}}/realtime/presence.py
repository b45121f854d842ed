"""Who is in each room: one entry per open socket, grouped by user as Phoenix's Presence does.

A socket's entry (its `ref` and its meta: user, ref, online_at) is added when it joins a room and
removed when it closes; each removal, and each addition, is announced to the room as a diff. A
user with three tabs open is one member with three metas, and has left when the last one has.

Entries expire: each lives CHAT_PRESENCE_TTL seconds unless renewed, and `PresenceTracker` renews
its process's entries RENEWALS_PER_TTL (3) times per TTL. A process that dies without closing its
sockets (a crash, a power cut, SIGKILL: no disconnect handler runs) leaves entries that stop being
renewed; the next heartbeat of any other process serving the room, or the next join, removes them
and announces their leave. So a dead process's users stay in presence at most
`ghost_bound(CHAT_PRESENCE_TTL)` seconds, TTL * 4 / 3 (20 s TTL: 27 s). Removal is atomic: of
all the processes that find an expired entry, exactly one removes it, and only that one announces
its leave. A process whose entries were removed while it was alive (it stalled longer than the
TTL, or Redis lost them) puts them back with its next heartbeat and announces them as joins.

`room_presence()` is the store as configured: on Redis (REDIS_URL), per room a hash (ref -> meta)
and a sorted set (ref -> expiry) changed by Lua scripts; in this process's memory otherwise.
"""

import asyncio
import json
import logging
import math
import secrets
import time
import weakref
from contextlib import suppress

from channels.layers import get_channel_layer
from django.conf import settings

from realtime.redis_client import cache_key, cache_redis, uses_redis
from realtime.redis_outages import REDIS_UNAVAILABLE, within_deadline

logger = logging.getLogger(__name__)

# Each process renews its entries this many times per CHAT_PRESENCE_TTL.
RENEWALS_PER_TTL = 3


def ghost_bound(ttl: float) -> float:
    """The longest a dead process's entries stay in presence, in seconds, for this TTL: their
    last renewal was at most one renewal interval before the death, they expire TTL after it, and
    the next heartbeat of another process in the room (one interval later at most) removes them.
    Heartbeats themselves take time (a Redis round trip per room), which comes on top."""
    return ttl + ttl / RENEWALS_PER_TTL


def new_ref() -> str:
    return secrets.token_urlsafe(9)


def group_by_user(metas: dict[str, str]) -> dict[str, dict]:
    """{ref: meta JSON} -> Phoenix's shape: {user: {"metas": [meta, ...]}}, oldest meta first."""
    members: dict[str, dict] = {}
    for meta in sorted(map(json.loads, metas.values()), key=lambda meta: meta["online_at"]):
        members.setdefault(meta["user"], {"metas": []})["metas"].append(meta)
    return members


def presence_keys(room: str) -> tuple[str, str]:
    return cache_key(f"presence:{room}"), cache_key(f"presence-expiry:{room}")


# KEYS: the room's hash (ref -> meta), its sorted set (ref -> expiry). ARGV: now, the entries'
# new expiry, the keys' TTL, 1 to return every member, then ref, meta, ref, meta, ...
# Adds or renews the entries, removes the expired ones. Returns {added, expired, members}, each
# flat: {ref, meta, ref, meta, ...}.
UPDATE = """
local added, expired = {}, {}
for i = 5, #ARGV, 2 do
  if redis.call('ZADD', KEYS[2], ARGV[2], ARGV[i]) == 1 then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    table.insert(added, ARGV[i])
    table.insert(added, ARGV[i + 1])
  end
end
for _, ref in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])) do
  table.insert(expired, ref)
  table.insert(expired, redis.call('HGET', KEYS[1], ref) or '{}')
  redis.call('ZREM', KEYS[2], ref)
  redis.call('HDEL', KEYS[1], ref)
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local members = {}
if ARGV[4] == '1' then members = redis.call('HGETALL', KEYS[1]) end
return {added, expired, members}
"""
# KEYS: as UPDATE's. ARGV: the ref. Returns its meta if this call removed it, else nil.
LEAVE = """
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return false end
local meta = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
return meta
"""


def pairs(flat: list) -> dict[str, str]:
    return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}


class RedisPresence:
    """Every process's entries, on the Redis of Django's RedisCache, through the process's shared
    connection (realtime.redis_client): one round trip per join, leave, and heartbeat per room.
    The keys of a room nobody renews expire twice CHAT_PRESENCE_TTL after the last write."""

    async def update(
        self, room: str, entries: dict[str, str], now: float, members: bool = False
    ) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        """Add or renew `entries` (ref -> meta JSON) until now + CHAT_PRESENCE_TTL, and remove the
        entries expired by `now`: (added, expired, every member if `members`), each ref -> meta."""
        ttl = settings.CHAT_PRESENCE_TTL
        flat = [part for entry in entries.items() for part in entry]
        added, expired, everyone = await (await cache_redis()).execute(
            "EVAL", UPDATE, 2, *presence_keys(room), now, now + ttl, math.ceil(2 * ttl),
            int(members), *flat,
        )  # fmt: skip
        return pairs(added), pairs(expired), pairs(everyone)

    async def leave(self, room: str, ref: str) -> str | None:
        """Remove the entry `ref`: its meta if this call removed it, None if it was gone."""
        meta = await (await cache_redis()).execute("EVAL", LEAVE, 2, *presence_keys(room), ref)
        return None if meta is None else meta.decode()


class LocalPresence:
    """This process's entries (no Redis: one process serves the site), with the same expiry."""

    def __init__(self):
        self.rooms: dict[str, dict[str, tuple[float, str]]] = {}  # room -> ref -> (expiry, meta)

    async def update(
        self, room: str, entries: dict[str, str], now: float, members: bool = False
    ) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        current = self.rooms.setdefault(room, {})
        expires_at = now + settings.CHAT_PRESENCE_TTL
        added = {ref: meta for ref, meta in entries.items() if ref not in current}
        for ref, meta in entries.items():
            current[ref] = (expires_at, current.get(ref, (0, meta))[1])
        expired = {ref: meta for ref, (until, meta) in current.items() if until <= now}
        for ref in expired:
            del current[ref]
        everyone = {ref: meta for ref, (_, meta) in current.items()} if members else {}
        if not current:
            del self.rooms[room]
        return added, expired, everyone

    async def leave(self, room: str, ref: str) -> str | None:
        current = self.rooms.get(room, {})
        entry = current.pop(ref, None)
        if not current:
            self.rooms.pop(room, None)
        return None if entry is None else entry[1]


REDIS_PRESENCE = RedisPresence()
LOCAL_PRESENCE = LocalPresence()


def room_presence() -> RedisPresence | LocalPresence:
    """The presence store for the default cache as configured now."""
    return REDIS_PRESENCE if uses_redis() else LOCAL_PRESENCE


def diff_event(room: str, joins: dict[str, str], leaves: dict[str, str]) -> dict:
    """The `presence.diff` channel-layer event (and frame) for entries that joined and left."""
    return {
        "type": "presence.diff",
        "room": room,
        "joins": group_by_user(joins),
        "leaves": group_by_user(leaves),
    }


class PresenceTracker:
    """This process's sockets in presence on one event loop, and the heartbeat that renews them.

    `join()` adds a socket's entry and returns the room's members; `leave()` removes it. Both
    announce the change to the channel-layer group `diff_group(room)`. While the process has
    sockets in presence, one task renews their entries every CHAT_PRESENCE_TTL / RENEWALS_PER_TTL
    seconds, one call per room, and announces the leaves of the expired entries it removed.
    `clock` is Unix time and `store` the presence store, room_presence() if None (tests pass
    their own).
    """

    def __init__(self, diff_group, clock=time.time, store=None):
        self.diff_group = diff_group
        self.clock = clock
        self.store = store
        self.local: dict[str, dict[str, str]] = {}  # room -> ref -> meta, this loop's sockets
        self.heartbeat_task = None
        # room -> (joins, leaves) waiting for the diff being sent to the room to go out first.
        self.pending: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
        self.sending: set[str] = set()  # rooms a diff is being sent to
        self.retries: set[asyncio.Task] = set()

    async def join(self, room: str, user: str) -> tuple[str, dict[str, dict]]:
        """Add a socket of `user` to the room: (its ref, the room's members, itself included)."""
        ref = new_ref()
        now = self.clock()
        meta = json.dumps({"user": user, "ref": ref, "online_at": int(now)})
        _, expired, everyone = await self.presence().update(room, {ref: meta}, now, members=True)
        self.local.setdefault(room, {})[ref] = meta
        self.ensure_heartbeat()
        await self.announce(room, {ref: meta}, expired)
        return ref, group_by_user(everyone)

    async def leave(self, room: str, ref: str) -> None:
        """Remove a socket's entry; announce its leave unless another process did (it expired)."""
        sockets = self.local.get(room, {})
        sockets.pop(ref, None)
        if not sockets:
            self.local.pop(room, None)
        meta = await self.presence().leave(room, ref)
        if meta is not None:
            await self.announce(room, {}, {ref: meta})

    async def heartbeat(self) -> None:
        """Renew every local entry once; announce what was put back and what expired."""
        store = self.presence()
        for room, sockets in list(self.local.items()):
            added, expired, _ = await store.update(room, dict(sockets), self.clock())
            await self.announce(room, added, expired)

    def presence(self) -> RedisPresence | LocalPresence:
        return self.store or room_presence()

    async def announce(self, room: str, joins: dict[str, str], leaves: dict[str, str]) -> None:
        """Send the room a diff of these joins and leaves. While a diff to the room is on its
        way, later changes wait and go out merged in the next one: in a storm of N sockets
        joining a room, its members get a diff per round trip to the channel layer, not N."""
        if not (joins or leaves):
            return
        waiting_joins, waiting_leaves = self.pending.setdefault(room, ({}, {}))
        for ref, meta in leaves.items():
            if waiting_joins.pop(ref, None) is None:  # a join not sent yet cancels out
                waiting_leaves[ref] = meta
        waiting_joins.update(joins)
        if room not in self.sending:
            await self.send_pending(room)

    async def send_pending(self, room: str) -> None:
        self.sending.add(room)
        try:
            while (diff := self.pending.pop(room, None)) is not None:
                if diff[0] or diff[1]:
                    layer = get_channel_layer()
                    event = diff_event(room, *diff)
                    await within_deadline(layer.group_send(self.diff_group(room), event))
        finally:
            self.sending.discard(room)
            if room in self.pending:  # this sender failed or was cancelled: another sends them
                retry = asyncio.ensure_future(self.send_pending_quietly(room))
                self.retries.add(retry)
                retry.add_done_callback(self.retries.discard)

    async def send_pending_quietly(self, room: str) -> None:
        if room in self.sending:
            return
        try:
            await self.send_pending(room)
        except REDIS_UNAVAILABLE as error:
            logger.warning("Presence diff of %s not sent, Redis unavailable: %s", room, error)

    def ensure_heartbeat(self) -> None:
        if self.heartbeat_task is None or self.heartbeat_task.done():
            self.heartbeat_task = asyncio.create_task(self.beat(), name="presence-heartbeat")

    async def beat(self) -> None:
        while self.local:
            await asyncio.sleep(settings.CHAT_PRESENCE_TTL / RENEWALS_PER_TTL)
            try:
                await self.heartbeat()
            except REDIS_UNAVAILABLE as error:
                # Entries not renewed expire; the next heartbeat that gets through puts them back.
                logger.warning("Presence heartbeat failed, Redis unavailable: %s", error)
            except Exception:
                logger.exception("Presence heartbeat failed")


# One tracker per event loop: a server process has one; test suites make a loop per test.
_trackers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def presence_tracker(diff_group) -> PresenceTracker:
    """The running event loop's tracker (made on first use, announcing to `diff_group(room)`)."""
    loop = asyncio.get_running_loop()
    tracker = _trackers.get(loop)
    if tracker is None:
        tracker = _trackers[loop] = PresenceTracker(diff_group)
    return tracker


async def leave_quietly(tracker: PresenceTracker, room: str, ref: str) -> None:
    """`tracker.leave()`, best effort: while Redis is unreachable the entry expires instead."""
    with suppress(*REDIS_UNAVAILABLE):
        await tracker.leave(room, ref)
