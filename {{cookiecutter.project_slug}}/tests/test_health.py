"""/healthz and /readyz on the full ASGI stack (realtime/health.py); under nginx and two server
processes, with Redis stopped and back, in tests/test_deployment.py."""

import asyncio
import json
import logging

import pytest
from channels.testing import HttpCommunicator
from django.test import override_settings

from config.asgi import application
from realtime import health


async def get(path, method="GET", host=b"chat.example.com"):
    communicator = HttpCommunicator(application, method, path, headers=[(b"host", host)])
    response = await communicator.get_response(timeout=10)
    body = json.loads(response["body"]) if response["body"] else None
    return response["status"], dict(response["headers"]), body


@pytest.fixture
def failing(monkeypatch):
    """`failing(name, check)`: replace one of /readyz's checks."""

    def replace(name, check):
        monkeypatch.setitem(health.CHECKS, name, check)

    return replace


async def broken():
    raise ConnectionError("refused")


async def hanging():
    await asyncio.Event().wait()


@override_settings(SECURE_SSL_REDIRECT=True, ALLOWED_HOSTS=["chat.example.com"])
async def test_liveness_answers_over_http_for_any_host_and_does_no_io(failing):
    for name in health.CHECKS:
        failing(name, broken)

    status, headers, body = await get("/healthz", host=b"10.0.0.7:8000")

    assert (status, body) == (200, {"status": "ok"})
    assert headers[b"cache-control"] == b"no-store"


async def test_readiness_is_ok_when_every_dependency_answers(transactional_db):
    status, _, body = await get("/readyz")

    assert (status, body) == (200, {"status": "ok"})


@pytest.mark.parametrize("name", list(health.CHECKS))
async def test_readiness_names_the_dependency_that_fails(transactional_db, failing, name):
    failing(name, broken)

    status, _, body = await get("/readyz")

    assert (status, body) == (503, {"status": "unavailable", "failed": [name]})


# The default deadline: the real checks beside the hanging one need a Redis round trip or two.
@override_settings(READINESS_TIMEOUT=1.0)
async def test_a_dependency_that_does_not_answer_fails_readiness_instead_of_hanging(
    transactional_db, failing
):
    failing("cache", hanging)

    status, _, body = await get("/readyz")

    assert (status, body) == (503, {"status": "unavailable", "failed": ["cache"]})


async def test_other_methods_are_refused():
    status, headers, _ = await get("/healthz", method="POST")

    assert status == 405
    assert headers[b"allow"] == b"GET, HEAD"


def access_record(path, status):
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", status),
        None,
    )


def test_successful_health_checks_stay_out_of_the_access_log():
    quiet = health.QuietHealthChecks()

    assert not quiet.filter(access_record("/healthz", 200))
    assert not quiet.filter(access_record("/readyz", 200))
    assert quiet.filter(access_record("/readyz", 503))
    assert quiet.filter(access_record("/api/token/", 200))
