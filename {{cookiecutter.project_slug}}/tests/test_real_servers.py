"""End to end against real server processes: what a client on the network sees."""

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys

import pytest
from websockets.exceptions import InvalidStatus

from tests.credentials import live_ws_credentials_for
from tests.live_server import PROJECT_DIR
from tests.users import USERS

pytestmark = pytest.mark.server

ORIGIN = "http://localhost"


async def chat(ws, message):
    await ws.send(json.dumps({"message": message}))
    return await receive_json(ws)


async def receive_json(ws):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout=5))


@pytest.mark.parametrize("kind", ["uvicorn", "runserver"])
async def test_server_serves_tokens_and_chat(module_server, server_process, kind):
    server = module_server if kind == "uvicorn" else server_process(kind)
    credentials = await asyncio.to_thread(live_ws_credentials_for, server)

    async with server.websocket(**credentials, origin=ORIGIN) as ws:
        reply = await chat(ws, "over the wire")

    assert reply == {
        "type": "chat.message",
        "room": "lobby",
        "user": "alice",
        "message": "over the wire",
    }


BAD_CREDENTIALS = [
    {},
    {"query": "token=nope"},
    {"query": "ticket=nope"},
    {"subprotocols": ["chat.v1", "access_token.nope"]},
]


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS)
async def test_refused_handshake_is_http_403(module_server, credentials):
    server = module_server
    with pytest.raises(InvalidStatus) as refused:
        async with server.websocket(**credentials, origin=ORIGIN):
            pass
    assert refused.value.response.status_code == 403
    assert "Traceback" not in server.output()


async def test_server_exits_promptly_on_sigterm_after_refused_and_dropped_connections(
    server_process,
):
    server = server_process()
    for credentials in BAD_CREDENTIALS:
        with pytest.raises(InvalidStatus):
            async with server.websocket(**credentials, origin=ORIGIN):
                pass
    # A client that vanishes without a closing handshake, and one that stays connected.
    credentials = await asyncio.to_thread(live_ws_credentials_for, server)
    dropped = await server.websocket(**credentials, origin=ORIGIN)
    await chat(dropped, "about to vanish")
    dropped.transport.abort()
    credentials = await asyncio.to_thread(live_ws_credentials_for, server, "bob")
    async with server.websocket(**credentials, origin=ORIGIN) as open_ws:
        await chat(open_ws, "still here at shutdown")
        seconds = await asyncio.to_thread(server.stop)

    assert seconds < 5, f"took {seconds:.1f}s to exit:\n{server.output()}"
    # uvicorn finishes its shutdown, then re-raises SIGTERM so that the exit status reports it.
    assert server.process.returncode in (0, -signal.SIGTERM), server.output()
    assert "Finished server process" in server.output()
    assert "Traceback" not in server.output()


@pytest.mark.slow
async def test_socket_idle_on_redis_for_20s_still_chats(redis_url, server_process):
    server = server_process()
    alice_credentials = await asyncio.to_thread(live_ws_credentials_for, server, "alice")
    bob_credentials = await asyncio.to_thread(live_ws_credentials_for, server, "bob")
    async with (
        server.websocket("/ws/chat/idle/", **alice_credentials, origin=ORIGIN) as alice,
        server.websocket("/ws/chat/idle/", **bob_credentials, origin=ORIGIN) as bob,
    ):
        await asyncio.sleep(21)  # longer than redis-py's default 5 s socket timeout, several times
        assert (await chat(alice, "still there?"))["message"] == "still there?"
        assert (await receive_json(bob))["user"] == "alice"
        seconds = await asyncio.to_thread(server.stop)

    assert seconds < 5, f"took {seconds:.1f}s to exit:\n{server.output()}"
    assert "TimeoutError" not in server.output(), server.output()
    assert "Traceback" not in server.output()


def test_port_is_released_after_stop(server_process):
    server = server_process()
    server.stop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", server.port))


def test_readme_python_client_works_as_printed(module_server):
    server = module_server
    readme = (PROJECT_DIR / "README.md").read_text()
    (client,) = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    pointed = client.replace('"127.0.0.1:8000"', f'"127.0.0.1:{server.port}"').replace(
        '"your password"', repr(USERS["alice"])
    )
    assert pointed.count(str(server.port)) == 1
    assert USERS["alice"] in pointed

    result = subprocess.run(
        [sys.executable, "-c", pointed], capture_output=True, text=True, timeout=30
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "type": "chat.message",
        "room": "lobby",
        "user": "alice",
        "message": "hello",
    }


async def test_chat_crosses_server_processes_on_redis(redis_url, server_process):
    first, second = server_process(), server_process()
    alice_credentials = await asyncio.to_thread(live_ws_credentials_for, first, "alice")
    bob_credentials = await asyncio.to_thread(live_ws_credentials_for, second, "bob")
    async with (
        first.websocket("/ws/chat/shared/", **alice_credentials, origin=ORIGIN) as alice,
        second.websocket("/ws/chat/shared/", **bob_credentials, origin=ORIGIN) as bob,
    ):
        await chat(bob, "from the second process")
        assert (await receive_json(alice))["message"] == "from the second process"
