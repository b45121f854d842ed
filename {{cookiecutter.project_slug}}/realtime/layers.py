"""The Redis channel layers this project offers, and the count of messages they did not deliver.

- `BacklogPubSubChannelLayer` (the default, CHANNEL_LAYER=pubsub): channels-redis's Redis Pub/Sub
  layer, whose per-socket queue is bounded. A socket whose queue holds `backlog_limit` messages
  (its client reads slower than the room talks) gets nothing more: its pending messages are
  dropped and counted, and its consumer is handed BACKLOG_EXCEEDED, on which it closes the socket
  (realtime.consumers: 4408 `too_slow`). Other sockets are unaffected.
- `BoundedRedisChannelLayer` (CHANNEL_LAYER=core): channels-redis's list-based layer with a
  blocking connection pool. Its `capacity` bounds a whole process's inbox: past it, group
  messages are dropped; the layer logs that at INFO only, and `CountOverCapacityDrops` (a filter
  on its logger) counts them here instead.
- `dropped_messages`: every message a layer dropped, counted in this process; while drops
  happen it logs one WARNING a second at most, with the counts.
- `QuietReceiverOutages`: the Pub/Sub layer's receiver logs a traceback a second while Redis is
  unreachable; this filter turns that into one WARNING line a minute at most.
"""

import asyncio
import logging
import threading
import time
from collections import Counter

from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close
from redis.asyncio import BlockingConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from realtime.metrics import DROPPED
from realtime.redis_client import SharedConnection

logger = logging.getLogger(__name__)

# What a consumer whose backlog overflowed receives (instead of its dropped messages).
BACKLOG_EXCEEDED = {"type": "channel.backlog_exceeded"}


class DroppedMessages:
    """Messages the channel layer dropped in this process: `total`, and `by_reason` (a Counter).

    `record()` logs a WARNING at once, then at most one a second (a timer on the running event
    loop reports what came in meanwhile), so a flood of drops is loud but not a flood of lines.
    """

    interval = 1.0

    def __init__(self):
        self.total = 0
        self.by_reason = Counter()
        self._unreported = Counter()
        self._last_report = -self.interval
        self._report_scheduled = False
        self._lock = threading.Lock()

    def record(self, count, reason):
        DROPPED.labels(reason).inc(count)
        with self._lock:
            self.total += count
            self.by_reason[reason] += count
            self._unreported[reason] += count
            wait = self._last_report + self.interval - time.monotonic()
            if wait > 0 and self._report_scheduled:
                return
            if wait > 0:
                try:
                    asyncio.get_running_loop().call_later(wait, self.report)
                    self._report_scheduled = True
                    return
                except RuntimeError:  # no event loop to wait on: say it now
                    pass
        self.report()

    def report(self):
        with self._lock:
            unreported, self._unreported = self._unreported, Counter()
            self._last_report = time.monotonic()
            self._report_scheduled = False
            total = self.total
        if unreported:
            counts = ", ".join(f"{reason}: {n}" for reason, n in sorted(unreported.items()))
            logger.warning(
                "Channel layer dropped %d messages (%s); %d in this process so far",
                unreported.total(),
                counts,
                total,
            )


dropped_messages = DroppedMessages()


class BacklogQueue(asyncio.Queue):
    """One socket's pending messages. Past `limit`, it drops them all, keeps only `overflow`
    (serialized BACKLOG_EXCEEDED) for its consumer, and refuses (and counts) what comes later."""

    def __init__(self, limit, overflow):
        super().__init__()
        self.limit = limit
        self.overflow = overflow
        self.overflowed = False

    def put_nowait(self, item):
        if self.overflowed:
            dropped_messages.record(1, "backlog")
        elif self.qsize() < self.limit:
            super().put_nowait(item)
        else:
            self.overflowed = True
            dropped = self.qsize() + 1
            while not self.empty():
                self.get_nowait()
            super().put_nowait(self.overflow)
            dropped_messages.record(dropped, "backlog")


class PipelinedPublishShard(RedisSingleShardConnection):
    """channels-redis's connection to one Pub/Sub host, whose PUBLISH commands share one
    pipelined connection (realtime.redis_client.SharedConnection) instead of each holding the
    shard's lock for its round trip.

    Measured reason: with the lock, a burst of messages from one process is sent one round trip
    after another, so on a busy event loop 250 chat messages sent at once took longer than
    CHANNEL_LAYER_TIMEOUT and their senders were closed with 1013; pipelined, the burst is one
    write and one read. Subscriptions keep channels-redis's own connection and lock.
    """

    def __init__(self, host, channel_layer):
        super().__init__(host, channel_layer)
        self._publisher = None

    async def publish(self, channel, message):
        if "address" not in self.host:  # Sentinel and keyword configurations: channels-redis's
            return await super().publish(channel, message)
        if self._publisher is None:
            options = dict(self.host)
            self._publisher = SharedConnection(options.pop("address"), **options)
        await self._publisher.execute("PUBLISH", channel, message)

    async def flush(self):
        await super().flush()
        if self._publisher is not None:
            publisher, self._publisher = self._publisher, None
            await publisher.aclose()


class BacklogPubSubLoopLayer(RedisPubSubLoopLayer):
    """channels-redis's per-event-loop Pub/Sub layer, with a BacklogQueue for each channel and
    pipelined publishing (PipelinedPublishShard)."""

    def __init__(self, *args, backlog_limit=1000, **kwargs):
        super().__init__(*args, **kwargs)
        self.backlog_limit = backlog_limit
        self._shards = [PipelinedPublishShard(shard.host, self) for shard in self._shards]

    async def _subscribe_to_channel(self, channel):
        # The parent's, with a bounded queue instead of asyncio.Queue().
        overflow = self.channel_layer.serialize(BACKLOG_EXCEEDED)
        self.channels[channel] = BacklogQueue(self.backlog_limit, overflow)
        await self._get_shard(channel).subscribe(channel)


class BacklogPubSubChannelLayer(RedisPubSubChannelLayer):
    """RedisPubSubChannelLayer whose sockets each queue at most `backlog_limit` messages.

    CONFIG takes the parent's options (`hosts`, `prefix`, ...) and `backlog_limit`.
    """

    def _get_layer(self):
        # The parent's, making a BacklogPubSubLoopLayer (it hard-codes its own class).
        loop = asyncio.get_running_loop()
        if loop not in self._layers:
            self._layers[loop] = BacklogPubSubLoopLayer(
                *self._args, **self._kwargs, channel_layer=self
            )
            _wrap_close(self, loop)
        return self._layers[loop]


class BoundedRedisChannelLayer(RedisChannelLayer):
    """channels-redis with a BlockingConnectionPool per host.

    channels-redis gives each host redis-py's plain ConnectionPool, which raises
    MaxConnectionsError as soon as more commands are in flight than it may open connections
    (100 by default): a burst of handshakes, each joining its groups, fails. Here a command waits
    up to the host's `timeout` seconds for a free connection, and at most `max_connections`
    connections are opened per process and host.
    """

    def create_pool(self, index):
        host = dict(self.hosts[index])
        if "address" not in host:  # Sentinel and keyword configurations: channels-redis's pools
            return super().create_pool(index)
        return BlockingConnectionPool.from_url(host.pop("address"), **host)


class CountOverCapacityDrops(logging.Filter):
    """On `channels_redis.core`: its INFO "N of M channels over capacity in group G" (N group
    messages dropped) goes to `dropped_messages`, which warns, instead of to the log."""

    def filter(self, record):
        if record.msg == "%s of %s channels over capacity in group %s":
            dropped_messages.record(int(record.args[0]), "over_capacity")
            return False
        return True


class QuietReceiverOutages(logging.Filter):
    """On `channels_redis.pubsub`: a Redis outage logged with a traceback (its receive task
    retries every second) becomes one WARNING line without it, at most once a minute."""

    every = 60.0

    def __init__(self):
        super().__init__()
        self.last = -self.every

    def filter(self, record):
        error = record.exc_info[1] if record.exc_info else None
        # realtime.redis_outages.REDIS_UNAVAILABLE, which logging (set up before the apps load,
        # that module needs DRF's) cannot import.
        if not isinstance(error, (RedisConnectionError, RedisTimeoutError)):
            return True
        now = time.monotonic()
        if now - self.last < self.every:
            return False
        self.last = now
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg, record.args = "Channel layer lost Redis, retrying: %s", (error,)
        record.exc_info = record.exc_text = None
        return True
