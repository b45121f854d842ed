"""Ticket mode with its Redis unreachable: the endpoint answers 503 and tickets are refused (and
counted as such)."""

from prometheus_client import REGISTRY

from tests.handshakes import assert_refused
from tests.live_server import free_port
from tests.ticket_credentials import post_for_ticket

OUTAGE_WARNING = "Redis unavailable"


def unreachable_redis_cache():
    """CACHES with the default cache on a Redis port where nothing listens."""
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }


def outage_warnings(caplog, logger):
    """The messages `logger` wrote, after checking each is one warning without a traceback."""
    records = [r for r in caplog.records if r.name == logger]
    assert all(r.levelname == "WARNING" and r.exc_info is None for r in records)
    return [r.getMessage() for r in records]


async def test_ticket_endpoint_answers_503_with_retry_after(user, access_token, settings, caplog):
    settings.CACHES = unreachable_redis_cache()

    response = await post_for_ticket(access_token(user))

    assert response.status == 503
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "Service temporarily unavailable, try again later."}
    assert response.headers["retry-after"] == "5"
    (warning,) = outage_warnings(caplog, "realtime.ticket_endpoint")
    assert warning.startswith(f"{OUTAGE_WARNING}, answered /api/ws-ticket/ with 503")


async def test_ticket_is_refused_at_the_handshake(
    communicator, ws_credentials, user, settings, caplog
):
    credentials = await ws_credentials(user)  # issued while the cache is reachable
    settings.CACHES = unreachable_redis_cache()
    sample = ("realtime_ticket_redemptions_total", {"outcome": "unavailable"})
    unavailable = REGISTRY.get_sample_value(*sample)

    await assert_refused(communicator(**credentials))

    assert REGISTRY.get_sample_value(*sample) == unavailable + 1

    (warning,) = outage_warnings(caplog, "realtime.authentication")
    assert warning.startswith(f"{OUTAGE_WARNING}, refused a handshake to /ws/chat/lobby/")
    assert credentials["query"].split("=")[1] not in warning  # the ticket never reaches the log
