"""The Redis channel layer, with connection pools that wait instead of failing under bursts."""

from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool


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
