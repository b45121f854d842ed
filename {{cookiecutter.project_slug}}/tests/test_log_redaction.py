"""No credential reaches a log: the filter itself, then the output of real uvicorn and runserver.

Names are matched after percent-decoding and regardless of case (`TOKEN=` is refused at the
handshake, but what it carries is still a credential).
"""

import asyncio
import logging
import re
import urllib.error
import urllib.request
import uuid

import pytest
from uvicorn.logging import AccessFormatter
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from realtime.log_redaction import WITHHELD, RedactCredentialsFilter, redact
from tests.credentials import live_ws_credentials_for

ORIGIN = "http://localhost"
UVICORN_ACCESS_FORMAT = '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/ws/chat/x/?token=eyJ.a-b_c", "/ws/chat/x/?token=[redacted]"),
        ("/ws/chat/x/?ticket=Qk3_x-y", "/ws/chat/x/?ticket=[redacted]"),
        ('"WebSocket /ws/x/?token=eyJ.abc" 403', '"WebSocket /ws/x/?token=[redacted]" 403'),
        ("?a=1&token=abc&b=2", "?a=1&token=[redacted]&b=2"),
        ("?a=1&ticket=abc", "?a=1&ticket=[redacted]"),
        ("?token=abc#fragment", "?token=[redacted]#fragment"),
        ("?token=a&token=b&ticket=c", "?token=[redacted]&token=[redacted]&ticket=[redacted]"),
        ("?%74oken=abc", "?%74oken=[redacted]"),
        ("?%74%69%63%6b%65%74=abc", "?%74%69%63%6b%65%74=[redacted]"),
        ("?TOKEN=abc&Ticket=def", "?TOKEN=[redacted]&Ticket=[redacted]"),
        ("?token=%65yJ%2Eabc", "?token=[redacted]"),
        ("GET /x?token=abc HTTP/1.1", "GET /x?token=[redacted] HTTP/1.1"),
        ("{'query_string': b'token=abc&x=1'}", "{'query_string': b'token=[redacted]&x=1'}"),
        # A token offered as a subprotocol, as uvicorn's trace log shows scope headers and lists.
        (
            "(b'sec-websocket-protocol', b'chat.v1, access_token.eyJ.a-b_c')",
            "(b'sec-websocket-protocol', b'chat.v1, access_token.[redacted]')",
        ),
        ("['chat.v1', 'access_token.eyJ.abc']", "['chat.v1', 'access_token.[redacted]']"),
        ("chat.v1,access_token.eyJ.abc,x", "chat.v1,access_token.[redacted],x"),
        ("ACCESS_TOKEN.eyJ.abc", "ACCESS_TOKEN.[redacted]"),
    ],
)
def test_credential_values_are_redacted(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Application startup complete.",
        "?tokens=abc&csrftoken=def&ticketing=ghi",
        "?next=token&q=ticket",
        "?token=&ticket=",
        "100% of /ws/chat/x/?room=lobby",
        "chat.v1, access_token.",
        "the access_token is missing",
    ],
)
def test_text_without_credentials_is_unchanged(text):
    assert redact(text) == text


def make_record(msg, *args, name="test"):
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args or None, None)


def test_uvicorn_access_record_keeps_its_shape():
    args = ("127.0.0.1:5000", "GET", "/api/?token=abc&x=1", "1.1", 405)
    record = make_record('%s - "%s %s HTTP/%s" %d', *args, name="uvicorn.access")

    assert RedactCredentialsFilter().filter(record) is True

    assert record.args == ("127.0.0.1:5000", "GET", "/api/?token=[redacted]&x=1", "1.1", 405)
    line = AccessFormatter(UVICORN_ACCESS_FORMAT, use_colors=False).format(record)
    assert line.endswith('"GET /api/?token=[redacted]&x=1 HTTP/1.1" 405 Method Not Allowed')


def test_mapping_args_are_redacted_and_other_values_untouched():
    details = {"method": "GET", "path": "/x?ticket=abc", "status": 404, "time_taken": 0.5}
    record = make_record("HTTP %(method)s %(path)s %(status)s [%(time_taken).2f]", details)

    RedactCredentialsFilter().filter(record)

    assert record.args == {**details, "path": "/x?ticket=[redacted]"}
    assert record.getMessage() == "HTTP GET /x?ticket=[redacted] 404 [0.50]"


def test_objects_are_redacted_as_text_only_when_they_carry_a_credential():
    scope = {"path": "/ws/chat/x/", "query_string": b"token=abc"}
    clean = {"path": "/ws/chat/x/", "query_string": b"room=lobby"}
    record = make_record("%s scope=%s other=%s", 3, scope, clean)

    RedactCredentialsFilter().filter(record)

    assert record.args[0] == 3
    assert record.args[1] == str(scope).replace("token=abc", "token=[redacted]")
    assert record.args[2] is clean


def test_credential_in_the_format_string_is_redacted_after_formatting():
    record = make_record("GET /x?token=abc%s HTTP/1.1 %d", "def", 200)

    RedactCredentialsFilter().filter(record)

    assert record.getMessage() == "GET /x?token=[redacted] HTTP/1.1 200"


def test_record_without_credentials_is_left_alone():
    args = ("127.0.0.1:5000", "/ws/chat/lobby/?room=1")
    record = make_record('%s - "WebSocket %s" [accepted]', *args)

    RedactCredentialsFilter().filter(record)

    assert record.msg == '%s - "WebSocket %s" [accepted]'
    assert record.args == args


def test_record_that_cannot_be_checked_is_withheld():
    class Unprintable:
        def __str__(self):
            raise RuntimeError("no text")

    record = make_record("value: %s", Unprintable())

    assert RedactCredentialsFilter().filter(record) is True
    assert record.getMessage() == WITHHELD


def handlers_reached(name: str):
    """The handlers a record logged on `name` reaches (as callHandlers walks), pytest's aside."""
    logger, handlers = logging.getLogger(name), []
    while logger:
        handlers += [h for h in logger.handlers if not type(h).__module__.startswith("_pytest")]
        logger = logger.parent if logger.propagate else None
    return handlers


@pytest.mark.parametrize(
    "name",
    [
        "realtime",
        "django.request",
        "django.server",
        "django.channels.server",
        "uvicorn.error",
        "uvicorn.access",
        "uvicorn.asgi",
    ],
)
def test_every_handler_a_record_reaches_redacts(name):
    handlers = handlers_reached(name)
    assert len(handlers) == 1  # one line per record
    assert any(isinstance(f, RedactCredentialsFilter) for f in handlers[0].filters)


# Real servers: every way a credential can be spelled in a handshake or a request.


def percent_encoded(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


def leaked_forms(secret: str):
    """What would show that `secret` leaked: itself, as it was sent encoded, or its tail."""
    return {secret, percent_encoded(secret), secret[-16:]}


def assert_no_secret_in(output: str, secrets):
    assert "[redacted]" in output, output
    for secret in secrets:
        for form in leaked_forms(secret):
            assert form not in output, f"{form!r} is in the server output:\n{output}"


async def handshake_status(server, query: str) -> int:
    """The HTTP status a WebSocket handshake with this query string gets (101: it opened)."""
    try:
        async with connect(f"{server.ws_url}/ws/chat/lobby/?{query}", origin=ORIGIN):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


def get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def invalid_secret() -> str:
    return f"not-a-credential-{uuid.uuid4().hex}"


async def fresh_credential(server, username="alice") -> tuple[str, str, int]:
    """A new credential in the query string: (parameter name, value, status it gets).

    The subprotocol mode puts none in URLs and refuses one there (403); a client may still send
    one, and it must not reach the logs either.
    """
    credentials = await asyncio.to_thread(live_ws_credentials_for, server, username)
    if "query" in credentials:
        name, _, value = credentials["query"].partition("=")
        return name, value, 101
    return "token", await asyncio.to_thread(server.access_token, username), 403


@pytest.mark.server
async def test_uvicorn_handshake_lines_carry_no_credentials(server_process):
    server = server_process()
    name, valid, opens = await fresh_credential(server)
    _, encoded, _ = await fresh_credential(server)
    other = "ticket" if name == "token" else "token"
    access, access_too = [await asyncio.to_thread(server.access_token) for _ in range(2)]
    invalid, invalid_too = invalid_secret(), invalid_secret()
    # (query string, as it must be logged, the handshake's status)
    attempts = [
        (f"{name}={valid}", f"{name}=[redacted]", opens),
        (f"{name}={percent_encoded(encoded)}", f"{name}=[redacted]", opens),
        (f"{name}={invalid}", f"{name}=[redacted]", 403),
        (f"room=1&{name}={invalid_too}&x=2", f"room=1&{name}=[redacted]&x=2", 403),
        # The other mode's parameter, carrying a real access JWT.
        (f"{other}={access}", f"{other}=[redacted]", 403),
        # The server reads `%74oken` as `token`.
        (f"%74oken={access_too}", "%74oken=[redacted]", opens if name == "token" else 403),
        (f"TOKEN={access_too}", "TOKEN=[redacted]", 403),
    ]

    statuses = [await handshake_status(server, query) for query, _, _ in attempts]
    await asyncio.to_thread(server.stop)

    assert statuses == [status for _, _, status in attempts]
    output = server.output()
    assert_no_secret_in(output, [valid, encoded, invalid, invalid_too, access, access_too])
    # Each handshake is logged exactly once, with the value redacted.
    logged = re.findall(r'"WebSocket /ws/chat/lobby/\?([^"]*)" (\S+)', output)
    assert logged == [
        (query, "[accepted]" if status == 101 else str(status)) for _, query, status in attempts
    ], output


@pytest.mark.server
async def test_uvicorn_access_log_carries_no_credentials(server_process):
    server = server_process()
    name, valid, _ = await fresh_credential(server)
    access = await asyncio.to_thread(server.access_token)
    query = f"{name}={valid}&%74icket={access}"

    status = await asyncio.to_thread(get_status, f"{server.http_url}/api/token/?{query}")
    await asyncio.to_thread(server.stop)

    assert status == 405
    output = server.output()
    assert_no_secret_in(output, [valid, access])
    request_line = f'"GET /api/token/?{name}=[redacted]&%74icket=[redacted] HTTP/1.1" 405'
    assert output.count(request_line) == 1, output


@pytest.mark.server
async def test_runserver_request_lines_carry_no_credentials(server_process):
    server = server_process("runserver")
    name, valid, opens = await fresh_credential(server)
    access = await asyncio.to_thread(server.access_token)
    invalid = invalid_secret()

    assert await handshake_status(server, f"{name}={valid}") == opens
    assert await handshake_status(server, f"{name}={invalid}") == 403
    http_status = await asyncio.to_thread(
        get_status, f"{server.http_url}/api/token/?token={access}&ticket={invalid}"
    )
    await asyncio.to_thread(server.stop)

    assert http_status == 405
    output = server.output()
    assert_no_secret_in(output, [valid, access, invalid])
    # daphne logs handshakes without their query string, and HTTP requests with it.
    assert output.count("WebSocket HANDSHAKING /ws/chat/lobby/ [") == 2, output
    assert output.count("HTTP GET /api/token/?token=[redacted]&ticket=[redacted] 405") == 1, output
