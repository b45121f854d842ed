"""Redis outages: which errors mean Redis is unreachable, how long a channel-layer call may wait,
and how the REST API answers them.

With REDIS_URL set, the cache (tickets, throttling) and the channel layer live in Redis. While it
is unreachable, what needs it is refused cleanly: HTTP 503 on the API (here), a refused handshake
or a closed socket on WebSockets (realtime.authentication, realtime.consumers). The process keeps
running, and redis-py reconnects on the next use once Redis is back.

A Redis that accepts connections but does not answer (frozen, overloaded, a network that drops
packets) would hang the channel layer, whose connections have no read timeout so that its idle
reads live on. So every channel-layer call but `receive` gets a deadline of its own,
CHANNEL_LAYER_TIMEOUT seconds (`within_deadline`, `DeadlineLayer`), and when it passes raises
redis-py's TimeoutError, one of REDIS_UNAVAILABLE: the outage handling above applies. A group
leave goes on after its caller's deadline until it is done (FINISHED_PAST_THE_DEADLINE).
"""

import asyncio
import functools
import logging
import weakref

from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.views import exception_handler

from realtime.metrics import LAYER_SECONDS

logger = logging.getLogger(__name__)

# What redis-py raises when Redis refuses connections, does not answer in time, or is still
# loading its data after a restart (BusyLoadingError is a ConnectionError).
REDIS_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)

# How long a client refused for a Redis outage is asked to wait before retrying.
RETRY_AFTER_SECONDS = 5


# What a channel layer may be asked, each with a deadline; `receive` waits for as long as it takes.
BOUNDED_LAYER_CALLS = frozenset({"new_channel", "send", "group_add", "group_discard", "group_send"})
# Calls that run to their end once started, even when their caller stops waiting at the deadline:
# channels-redis forgets a group's member before it unsubscribes from the group, so a leave
# cancelled in between kept the process subscribed to a group it had no member of (300 of 500
# rooms after 5,000 sockets closed at once on one process).
FINISHED_PAST_THE_DEADLINE = frozenset({"group_discard"})
# Those calls while they run on after their callers' deadlines: a task needs a reference.
_unfinished: set[asyncio.Task] = set()


async def within_deadline(awaitable):
    """Await a channel-layer call; past CHANNEL_LAYER_TIMEOUT seconds, cancel it and raise
    redis-py's TimeoutError."""
    seconds = settings.CHANNEL_LAYER_TIMEOUT
    try:
        async with asyncio.timeout(seconds) as deadline:
            return await awaitable
    except TimeoutError:
        if not deadline.expired():
            raise  # a timeout of the call's own, not this deadline
        raise RedisTimeoutError(f"the channel layer did not answer within {seconds} s") from None


# id(layer) -> its DeadlineLayer, while anything holds that (which holds the layer, so that the id
# is not reused meanwhile).
_deadline_layers: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


class DeadlineLayer:
    """A channel layer whose calls in BOUNDED_LAYER_CALLS each end `within_deadline`; everything
    else (receive, attributes such as group_expiry) is the layer's own.

    `DeadlineLayer.around(layer)` gives the one wrapper of a layer object, which every consumer
    on that layer shares.
    """

    def __init__(self, layer):
        self.layer = layer

    @classmethod
    def around(cls, layer) -> "DeadlineLayer":
        if (wrapper := _deadline_layers.get(id(layer))) is None:
            wrapper = _deadline_layers[id(layer)] = cls(layer)
        return wrapper

    def __getattr__(self, name):
        attribute = getattr(self.layer, name)
        if name not in BOUNDED_LAYER_CALLS:
            return attribute

        @functools.wraps(attribute)
        async def bounded(*args, **kwargs):
            call = attribute(*args, **kwargs)
            if name in FINISHED_PAST_THE_DEADLINE:
                call = asyncio.shield(finished_past_the_deadline(call))
            with LAYER_SECONDS.labels(name).time():
                return await within_deadline(call)

        return bounded


def finished_past_the_deadline(call) -> asyncio.Task:
    """`call` as a task that runs to its end whether or not anybody still awaits it."""
    task = asyncio.ensure_future(call)
    _unfinished.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task) -> None:
    _unfinished.discard(task)
    if not task.cancelled() and (error := task.exception()) is not None:
        # Its caller, if still waiting, got the error too; otherwise it is only logged here.
        logger.debug("A channel-layer call finished past its deadline failed: %r", error)


class ServiceUnavailable(APIException):
    """HTTP 503: a service the request needs is unreachable for now."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Service temporarily unavailable, try again later."
    default_code = "service_unavailable"


def api_exception_handler(exc, context):
    """DRF's exception handler, except that Redis being unreachable is a 503, not a 500.

    The 503 carries Retry-After; the outage is logged as one warning line, without a traceback.
    """
    if not isinstance(exc, REDIS_UNAVAILABLE):
        return exception_handler(exc, context)
    logger.warning("Redis unavailable, answered %s with 503: %s", context["request"].path, exc)
    response = exception_handler(ServiceUnavailable(), context)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
