"""What anyone can send without signing in does not fill the logs (realtime/log_limits.py): a
foreign Host header or an oversized body is logged as one line without a traceback, and repeated
warnings are limited per logger and level, counting what was dropped."""

import io
import json
import logging

import pytest
from django.conf import settings
from django.test import Client

from realtime.log_limits import OneLineSecurityEvents, RepeatLimit


@pytest.fixture
def clock(monkeypatch):
    """A fake time.monotonic for realtime.log_limits, moved by hand."""
    now = [1000.0]
    monkeypatch.setattr("realtime.log_limits.time.monotonic", lambda: now[0])
    return now


@pytest.fixture
def console():
    """What the project's console handler (the root logger's) writes, as a StringIO; its repeat
    counts start from zero."""
    (handler,) = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RepeatLimit) for f in handler.filters)  # not pytest's own
    ]
    for repeat_limit in (f for f in handler.filters if isinstance(f, RepeatLimit)):
        repeat_limit.windows.clear()
    output = io.StringIO()
    previous = handler.setStream(output)
    yield output
    handler.setStream(previous)


SIGN_IN = json.dumps({"username": "alice", "password": "a-password-to-keep-out-of-logs"})


def test_a_foreign_host_header_is_one_line_without_traceback_or_credential(console, clock):
    response = Client(headers={"host": "evil.example"}).post(
        "/api/token/", SIGN_IN, content_type="application/json"
    )

    assert response.status_code == 400
    lines = console.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("ERROR django.security.DisallowedHost: ")
    assert "evil.example" in lines[0]
    assert "password" not in lines[0]


def test_an_oversized_body_is_one_line_without_traceback(console, clock):
    body = json.dumps({"username": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE, "password": "y"})

    response = Client().post("/api/token/", body, content_type="application/json")

    assert response.status_code == 400
    lines = console.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("ERROR django.security.RequestDataTooBig: ")


def test_a_flood_of_foreign_host_requests_writes_at_most_the_limit_per_second(console, clock):
    client = Client(headers={"host": "evil.example"})
    for _ in range(3 * settings.LOG_REPEATS_PER_SECOND):
        client.post("/api/token/", SIGN_IN, content_type="application/json")
    clock[0] += 1
    client.post("/api/token/", SIGN_IN, content_type="application/json")

    lines = console.getvalue().splitlines()
    assert len(lines) == settings.LOG_REPEATS_PER_SECOND + 1
    dropped = 2 * settings.LOG_REPEATS_PER_SECOND
    assert lines[-1].endswith(f"[{dropped} more like this dropped]")


def record(name, level=logging.WARNING, msg="something %s", args=("happened",), exc_info=None):
    return logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)


def test_repeats_are_counted_per_logger_and_level_and_reported_once(clock):
    limit = RepeatLimit(per_second=2)

    passed = [limit.filter(record("a")) for _ in range(5)]
    other_logger = limit.filter(record("b"))
    other_level = limit.filter(record("a", level=logging.ERROR))
    info = [limit.filter(record("a", level=logging.INFO)) for _ in range(5)]
    clock[0] += 1
    next_second = record("a")
    limit.filter(next_second)
    after_that = record("a")
    limit.filter(after_that)

    assert passed == [True, True, False, False, False]
    assert other_logger and other_level and all(info)
    assert next_second.getMessage() == "something happened [3 more like this dropped]"
    assert after_that.getMessage() == "something happened"


def test_only_security_events_lose_their_traceback():
    try:
        raise ValueError("boom")
    except ValueError as error:
        exc_info = (type(error), error, error.__traceback__)
    security = record("django.security.DisallowedHost", logging.ERROR, exc_info=exc_info)
    server_error = record("django.request", logging.ERROR, exc_info=exc_info)

    assert OneLineSecurityEvents().filter(security)
    assert OneLineSecurityEvents().filter(server_error)

    assert security.exc_info is None
    assert server_error.exc_info is exc_info
