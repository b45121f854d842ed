"""Each room's recent messages, numbered, so that a socket that reconnects gets what it missed.

Every message published in a room gets the next position of that room's history: 1, 2, 3, ...,
strictly increasing, never handed out twice. The history keeps the last CHAT_HISTORY_SIZE messages
that are at most CHAT_HISTORY_TTL seconds old. An epoch names one unbroken run of positions: when
a history is lost (Redis flushed or restarted, the room idle for META_TTL seconds, an embedded
server restarted), positions start again at 1 under a new epoch, so that a position of the old
epoch is never taken for one of the new (Centrifugo's offsets and epochs).

A client says where it was (`Since`: epoch and position); `resume()` answers with what it missed,
or says plainly why it cannot: `GAP_TOO_OLD` (the history no longer holds every message after its
position) or `HISTORY_LOST` (its epoch is not the room's: positions restarted).

`room_history()` is the store as configured: on Redis (REDIS_URL), one Lua script per message
assigns the position and appends the message atomically, so that two processes never assign the
same position; in this process's memory otherwise (one process serves the site).
"""

import re
import secrets
import time
from collections import deque
from dataclasses import dataclass

from django.conf import settings

from realtime.redis_client import cache_key, cache_redis, uses_redis

# What a client can hold without rounding: JavaScript's largest exact integer.
MAX_POSITION = 2**53 - 1
EPOCH_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
# How long a room's epoch and last position outlive its last message. Past it, the room starts a
# new epoch: clients that were away longer are told HISTORY_LOST, never given wrong positions.
META_TTL = 30 * 86400

# What `resume()` answers, in the `history` frame's `resume` field.
FRESH = "fresh"  # the client asked for no resume: here is where the room is
RESUMED = "ok"  # every message after the client's position follows, in order
GAP_TOO_OLD = "gap_too_old"  # some are no longer kept: reload what matters from elsewhere
HISTORY_LOST = "history_lost"  # positions restarted under a new epoch: the same


@dataclass(frozen=True)
class Since:
    """Where a client was in a room's history: the last position it received, in `epoch`."""

    epoch: str
    position: int


@dataclass(frozen=True)
class HistoryRead:
    """A room's history as one read saw it: its epoch, `top` (the last position handed out, 0
    when none was), and the kept messages after the position read from, oldest first, as
    (position, payload) pairs."""

    epoch: str
    top: int
    entries: list[tuple[int, str]]

    def holds_every_message_after(self, position: int) -> bool:
        expected = range(position + 1, self.top + 1)
        return len(self.entries) == len(expected) and all(
            entry[0] == wanted for entry, wanted in zip(self.entries, expected, strict=True)
        )


def parse_since(epoch, position) -> Since:
    """A client's resume request from its two values (text, as in a query string).

    Raises ValueError, with a message for the client, when they are not an epoch and a whole
    number from 0 to MAX_POSITION.
    """
    if not isinstance(epoch, str) or not EPOCH_PATTERN.fullmatch(epoch):
        raise ValueError("epoch must be 1 to 32 letters, digits, '-' or '_'")
    if not isinstance(position, str) or not position.isascii() or not position.isdigit():
        raise ValueError(f"position must be a whole number from 0 to {MAX_POSITION}")
    if len(position) > len(str(MAX_POSITION)) or int(position) > MAX_POSITION:
        raise ValueError(f"position must be a whole number from 0 to {MAX_POSITION}")
    return Since(epoch, int(position))


async def resume(room: str, since: Since | None) -> tuple[str, HistoryRead]:
    """(outcome, read): what a socket that joins `room` gets, and the room's epoch and top.

    The read's entries are the messages to send: after `since` when RESUMED; with HISTORY_LOST,
    every message of the new epoch if all of them are still kept (a client of the old epoch
    received none of them); none otherwise.
    """
    store = room_history()
    if since is None:
        return FRESH, await store.read(room, after=None)
    read = await store.read(room, after=since.position)
    if read.epoch == since.epoch and since.position <= read.top:
        if read.holds_every_message_after(since.position):
            return RESUMED, read
        return GAP_TOO_OLD, HistoryRead(read.epoch, read.top, [])
    if read.epoch == since.epoch:  # a position this epoch never reached
        return HISTORY_LOST, HistoryRead(read.epoch, read.top, [])
    read = await store.read(room, after=0)
    if not read.holds_every_message_after(0):
        read = HistoryRead(read.epoch, read.top, [])
    return HISTORY_LOST, read


def new_epoch() -> str:
    return secrets.token_urlsafe(9)  # 12 characters of EPOCH_PATTERN


def history_keys(room: str) -> tuple[str, str]:
    # Under the cache's key prefix, like the tickets: one namespace per project (and test run).
    return cache_key(f"history-meta:{room}"), cache_key(f"history:{room}")


# KEYS: the room's meta hash (e: epoch, s: last position), its stream (entry ID: position-0,
# fields t: Unix time, d: payload). ARGV: a new epoch, in case the room has none; now; the payload;
# CHAT_HISTORY_SIZE; the oldest time kept; CHAT_HISTORY_TTL; META_TTL. Returns {epoch, position}.
APPEND = """
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 's', 0)
end
local position = redis.call('HINCRBY', KEYS[1], 's', 1)
local aged = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 16)
local keep_from = nil
for _, entry in ipairs(aged) do
  if tonumber(entry[2][2]) >= tonumber(ARGV[5]) then keep_from = entry[1] break end
end
if keep_from then
  redis.call('XTRIM', KEYS[2], 'MINID', keep_from)
elseif #aged > 0 then
  local last = tonumber(string.match(aged[#aged][1], '^(%d+)'))
  redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d-0', last + 1))
end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], string.format('%d-0', position),
  't', ARGV[2], 'd', ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[7])
return {epoch, position}
"""
# KEYS: as APPEND's. ARGV: a new epoch, in case the room has none; the first entry ID to return
# ('' for none); the oldest time kept; CHAT_HISTORY_SIZE; META_TTL.
# Returns {epoch, last position, position, payload, position, payload, ...}.
READ = """
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 's', 0)
  redis.call('EXPIRE', KEYS[1], ARGV[5])
end
local reply = {epoch, tonumber(redis.call('HGET', KEYS[1], 's'))}
if ARGV[2] ~= '' then
  local cutoff = tonumber(ARGV[3])
  for _, entry in ipairs(redis.call('XRANGE', KEYS[2], ARGV[2], '+', 'COUNT', ARGV[4])) do
    if tonumber(entry[2][2]) >= cutoff then
      table.insert(reply, tonumber(string.match(entry[1], '^(%d+)')))
      table.insert(reply, entry[2][4])
    end
  end
end
return reply
"""


class RedisHistory:
    """Histories on the Redis of Django's RedisCache, through the process's shared connection
    (realtime.redis_client): one round trip per message, one per read.

    Per room, a hash (epoch, last position) and a stream of at most CHAT_HISTORY_SIZE entries
    (exact MAXLEN), whose entries older than CHAT_HISTORY_TTL are trimmed as messages come and
    skipped by reads; the stream expires CHAT_HISTORY_TTL after the room's last message, the hash
    META_TTL after it.
    """

    def __init__(self, clock=time.time):
        self.clock = clock

    async def append(self, room: str, payload: str) -> tuple[str, int]:
        """Give `payload` (a message's JSON) the room's next position: (epoch, position)."""
        now = self.clock()
        ttl = settings.CHAT_HISTORY_TTL
        epoch, position = await (await cache_redis()).execute(
            "EVAL", APPEND, 2, *history_keys(room), new_epoch(), now, payload,
            settings.CHAT_HISTORY_SIZE, now - ttl, ttl, META_TTL,
        )  # fmt: skip
        return epoch.decode(), position

    async def read(self, room: str, after: int | None) -> HistoryRead:
        """The room's epoch and top, and its kept messages after position `after` (None: none)."""
        start = "" if after is None else f"{after + 1}-0"
        cutoff = self.clock() - settings.CHAT_HISTORY_TTL
        epoch, top, *flat = await (await cache_redis()).execute(
            "EVAL", READ, 2, *history_keys(room), new_epoch(), start, cutoff,
            settings.CHAT_HISTORY_SIZE, META_TTL,
        )  # fmt: skip
        entries = [(flat[i], flat[i + 1].decode()) for i in range(0, len(flat), 2)]
        return HistoryRead(epoch.decode(), top, entries)


class LocalHistory:
    """Histories in this process's memory, under one epoch per process: a restart loses them,
    and its clients are told HISTORY_LOST. Same bounds as on Redis."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self.epoch = new_epoch()
        self.tops: dict[str, int] = {}
        self.entries: dict[str, deque[tuple[int, float, str]]] = {}

    async def append(self, room: str, payload: str) -> tuple[str, int]:
        position = self.tops[room] = self.tops.get(room, 0) + 1
        entries = self.entries.setdefault(room, deque())
        entries.append((position, self.clock(), payload))
        self.trim(entries)
        return self.epoch, position

    async def read(self, room: str, after: int | None) -> HistoryRead:
        top = self.tops.get(room, 0)
        if after is None or room not in self.entries:
            return HistoryRead(self.epoch, top, [])
        entries = self.entries[room]
        self.trim(entries)
        kept = [(position, payload) for position, _, payload in entries if position > after]
        return HistoryRead(self.epoch, top, kept)

    def trim(self, entries: deque) -> None:
        cutoff = self.clock() - settings.CHAT_HISTORY_TTL
        while entries and (len(entries) > settings.CHAT_HISTORY_SIZE or entries[0][1] < cutoff):
            entries.popleft()


REDIS_HISTORY = RedisHistory()
LOCAL_HISTORY = LocalHistory()


def room_history() -> RedisHistory | LocalHistory:
    """The history store for the default cache as configured now."""
    return REDIS_HISTORY if uses_redis() else LOCAL_HISTORY
