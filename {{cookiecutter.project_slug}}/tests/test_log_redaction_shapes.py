"""Credentials are redacted by what they are, not only by the name they travel under: any
JWT-shaped string, the usual credential parameters, and the values of credential headers, wherever
they appear in a log line (realtime/log_redaction.py)."""

import logging
import sys

import pytest

from realtime.log_redaction import RedactCredentialsFilter, redact

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJ1c2VyX2lkIjoiMSIsImV4cCI6MjAwMDAwMDAwMH0"
    ".c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"GET /api/x?access_token={JWT} HTTP/1.1", "GET /api/x?access_token=[redacted] HTTP/1.1"),
        ("/ws/chat/x/?jwt=abc&room=1", "/ws/chat/x/?jwt=[redacted]&room=1"),
        ("/ws/chat/x/?access=abc", "/ws/chat/x/?access=[redacted]"),
        ("/x?refresh=abc&password=hunter2", "/x?refresh=[redacted]&password=[redacted]"),
        (f'"WebSocket /ws/chat/{JWT}/" 403', '"WebSocket /ws/chat/[redacted]/" 403'),
        (f"/ws/chat/x/?q={JWT}", "/ws/chat/x/?q=[redacted]"),
        (f"token is {JWT}.", "token is [redacted]."),
        (f"unsigned eyJhbGciOiJub25lIn0.{JWT.split('.')[1]}. end", "unsigned [redacted] end"),
        ("Authorization: Bearer abc.def", "Authorization: [redacted]"),
        ("cookie: sessionid=abc; csrftoken=def\nnext line", "cookie: [redacted]\nnext line"),
        (
            "[(b'host', b'x'), (b'authorization', b'Bearer abc'), (b'cookie', b'sessionid=abc')]",
            "[(b'host', b'x'), (b'authorization', b'[redacted]'), (b'cookie', b'[redacted]')]",
        ),
        (
            "{'HTTP_AUTHORIZATION': 'Bearer abc', 'HTTP_COOKIE': 'sessionid=abc', 'X': 'y'}",
            "{'HTTP_AUTHORIZATION': '[redacted]', 'HTTP_COOKIE': '[redacted]', 'X': 'y'}",
        ),
        ('{"Proxy-Authorization": "Basic YTpi"}', '{"Proxy-Authorization": "[redacted]"}'),
        ("Set-Cookie: sessionid=abc; HttpOnly", "Set-Cookie: [redacted]"),
        ("Cookie: b=1", "Cookie: [redacted]"),
        (
            f"(b'sec-websocket-protocol', b'chat.v1, {JWT}')",
            "(b'sec-websocket-protocol', b'chat.v1, [redacted]')",
        ),
    ],
)
def test_credentials_are_redacted_by_their_shape_and_place(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "GET /ws/chat/lobby/?room=eyJ HTTP/1.1",
        "chat.example.com 1.2.3 www.example.org",
        "eyJ is how base64 JSON starts",
        "authorization failed for alice",
        "the cookie was missing",
        "Redis key prefix: chat",
        "(b'sec-websocket-protocol', b'chat.v1')",
    ],
)
def test_text_without_credentials_is_unchanged(text):
    assert redact(text) == text


def test_a_jwt_in_a_log_records_arguments_is_redacted():
    scope = {"path": f"/ws/chat/{JWT}/", "headers": [(b"authorization", b"Bearer abc")]}
    record = logging.LogRecord("test", logging.DEBUG, __file__, 1, "scope %s", (scope,), None)

    RedactCredentialsFilter().filter(record)

    line = record.getMessage()
    assert JWT not in line
    assert "Bearer abc" not in line


@pytest.mark.parametrize("name", ["cookie", "Authorization", "proxy-authorization", "set-cookie"])
def test_a_header_value_logged_apart_from_its_name_is_redacted(name):
    # The websockets library logs each handshake header at DEBUG as `"< %s: %s", name, value`.
    record = logging.LogRecord(
        "websockets.server", logging.DEBUG, __file__, 1, "< %s: %s", (name, "Basic YTpi"), None
    )

    RedactCredentialsFilter().filter(record)

    assert record.getMessage() == f"< {name}: [redacted]"


def test_a_header_that_carries_no_credential_keeps_its_value():
    record = logging.LogRecord(
        "websockets.server", logging.DEBUG, __file__, 1, "< %s: %s", ("host", "example.com"), None
    )

    RedactCredentialsFilter().filter(record)

    assert record.getMessage() == "< host: example.com"


def test_a_jwt_in_a_records_traceback_is_redacted():
    # Django's 404 at DEBUG logs a Resolver404 whose text quotes the path.
    try:
        raise LookupError({"path": f"api/x/{JWT}/"})
    except LookupError:
        record = logging.LogRecord(
            "django.template", logging.DEBUG, __file__, 1, "lookup failed", (), sys.exc_info()
        )

    RedactCredentialsFilter().filter(record)

    line = logging.Formatter().format(record)
    assert "LookupError" in line
    assert JWT not in line
