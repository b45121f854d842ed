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
# channels-redis's, on which QuietReceiverOutages shortens the receive loop's outage tracebacks.
pubsub_logger = logging.getLogger("channels_redis.pubsub")

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


class PubSubShard(RedisSingleShardConnection):
    """channels-redis's connection to one Pub/Sub host, with two changes:

    - `subscribe()` returns once Redis has confirmed the subscription, not once the command is
      written: a message published right after `group_add()` returns, from any connection of any
      process, reaches the group's new member. (channels-redis's own returned before Redis had
      subscribed: with 1,000 sockets joining new rooms at once, each followed by one message,
      15 to 22% of those messages went to nobody.)
    - PUBLISH commands share one pipelined connection (realtime.redis_client.SharedConnection)
      instead of each holding the shard's lock for its round trip. Measured reason: 250 messages
      sent at once took 67 ms of wall time and 18.5 ms of CPU one after another, 12 and 6.4 ms
      pipelined; on a busy event loop the serial burst outlasted CHANNEL_LAYER_TIMEOUT.
    """

    def __init__(self, host, channel_layer):
        super().__init__(host, channel_layer)
        self._publisher = None
        self._confirmations: dict[str, asyncio.Future] = {}  # channel -> set once Redis confirms

    async def publish(self, channel, message):
        if "address" not in self.host:  # Sentinel and keyword configurations: channels-redis's
            return await super().publish(channel, message)
        if self._publisher is None:
            options = dict(self.host)
            self._publisher = SharedConnection(options.pop("address"), **options)
        await self._publisher.execute("PUBLISH", channel, message)

    async def subscribe(self, channel):
        # channels-redis's, which also awaits Redis's confirmation of the subscription.
        async with self._lock:
            if channel not in self._subscribed_to:
                self._ensure_redis()
                self._ensure_receiver()
                confirmed = asyncio.get_running_loop().create_future()
                self._confirmations[channel] = confirmed
                try:
                    await self._pubsub.subscribe(channel)
                except BaseException as error:
                    del self._confirmations[channel]
                    # Whoever waits for this subscription is refused as for a Redis outage.
                    failed = RedisConnectionError(f"Subscribing to {channel} failed: {error!r}")
                    confirmed.set_exception(failed)
                    confirmed.exception()  # retrieved: there may be nobody else waiting
                    raise
                self._subscribed_to.add(channel)
        if (confirmed := self._confirmations.get(channel)) is not None:
            # Shielded: a caller that gives up leaves the confirmation to the others.
            await asyncio.shield(confirmed)

    async def _do_receiving(self):
        # channels-redis's receive loop, which also reads the subscribe confirmations.
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(timeout=0.1)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self._confirm(message["channel"])
                    elif message["type"] in ("message", "pmessage"):
                        self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (asyncio.CancelledError, TimeoutError, GeneratorExit):
                raise
            except BaseException:
                pubsub_logger.exception("Unexpected exception in receive task")
                await asyncio.sleep(1)

    def _confirm(self, channel) -> None:
        if isinstance(channel, bytes):
            channel = channel.decode()
        confirmed = self._confirmations.pop(channel, None)
        if confirmed is not None and not confirmed.done():
            confirmed.set_result(None)

    async def flush(self):
        await super().flush()
        for confirmed in self._confirmations.values():
            confirmed.cancel()
        self._confirmations.clear()
        if self._publisher is not None:
            publisher, self._publisher = self._publisher, None
            await publisher.aclose()


class BacklogPubSubLoopLayer(RedisPubSubLoopLayer):
    """channels-redis's per-event-loop Pub/Sub layer, with a BacklogQueue for each channel and a
    PubSubShard for each host."""

    def __init__(self, *args, backlog_limit=1000, **kwargs):
        super().__init__(*args, **kwargs)
        self.backlog_limit = backlog_limit
        self._shards = [PubSubShard(shard.host, self) for shard in self._shards]

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
