"""Subprotocol mode: the access token counts as one `access_token.<jwt>` subprotocol only, and
the handshake is accepted with the application's subprotocol, never with the token."""

import asyncio

import pytest

from tests.handshakes import assert_refused
from tests.subprotocol_credentials import live_ws_credentials_for, token_credentials


async def test_handshake_is_accepted_with_chat_v1_and_never_the_token(
    communicator, user, access_token
):
    access = access_token(user)
    # The token first: a server that picked the first offer would echo it.
    comm = communicator(subprotocols=[f"access_token.{access}", "chat.v1"])

    connected, subprotocol = await comm.connect()

    assert connected
    assert subprotocol == "chat.v1"
    await comm.send_json_to({"message": "hi"})
    assert (await comm.receive_json_from())["user"] == "alice"


@pytest.mark.parametrize("param", ["token", "ticket"])
async def test_credential_in_the_query_string_is_refused_in_this_mode(
    communicator, user, access_token, param
):
    access = access_token(user)
    await assert_refused(communicator(query=f"{param}={access}"))
    # Even next to a valid token subprotocol: the token must stay out of URLs.
    await assert_refused(communicator(query=f"{param}={access}", **token_credentials(access)))


async def test_two_token_subprotocols_are_refused_even_if_both_are_valid(
    communicator, user, access_token
):
    first, second = access_token(user), access_token(user)
    offered = ["chat.v1", f"access_token.{first}", f"access_token.{second}"]
    await assert_refused(communicator(subprotocols=offered))


@pytest.mark.parametrize("spelling", ["ACCESS_TOKEN.", "access-token.", "access_token", "bearer."])
async def test_other_spellings_of_the_prefix_are_no_credential(
    communicator, user, access_token, spelling
):
    offered = ["chat.v1", f"{spelling}{access_token(user)}"]
    await assert_refused(communicator(subprotocols=offered))


@pytest.mark.server
@pytest.mark.parametrize("kind", ["uvicorn", "runserver"])
async def test_real_server_accepts_with_chat_v1_and_logs_no_token(server_process, kind):
    # uvicorn's trace level logs every ASGI scope, headers and subprotocols included.
    server = server_process(kind, UVICORN_LOG_LEVEL="trace", DJANGO_LOG_LEVEL="DEBUG")
    credentials = await asyncio.to_thread(live_ws_credentials_for, server)
    token = credentials["subprotocols"][1].removeprefix("access_token.")

    async with server.websocket(**credentials, origin="http://localhost") as ws:
        await ws.send('{"message": "no token in sight"}')
        await asyncio.wait_for(ws.recv(), timeout=5)
        response_header = ws.response.headers["Sec-WebSocket-Protocol"]
    await asyncio.to_thread(server.stop)

    assert ws.subprotocol == response_header == "chat.v1"
    output = server.output()
    assert token not in output
    assert token[-16:] not in output
    if kind == "uvicorn":
        assert "access_token.[redacted]" in output, output
