"""Redis outages: which errors mean Redis is unreachable, and how the REST API answers them.

With REDIS_URL set, the cache (tickets, throttling) and the channel layer live in Redis. While it
is unreachable, what needs it is refused cleanly: HTTP 503 on the API (here), a refused handshake
or a closed socket on WebSockets (realtime.authentication, realtime.consumers). The process keeps
running, and redis-py reconnects on the next use once Redis is back.
"""

import logging

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)

# What redis-py raises when Redis refuses connections, does not answer in time, or is still
# loading its data after a restart (BusyLoadingError is a ConnectionError).
REDIS_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)

# How long a client refused for a Redis outage is asked to wait before retrying.
RETRY_AFTER_SECONDS = 5


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
