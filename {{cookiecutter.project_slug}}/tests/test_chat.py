"""The chat consumer behind the auth middleware, in whichever auth mode this project was baked."""

import json

import pytest

from realtime.credentials import MAX_QUERY_PARAMS, MAX_QUERY_STRING_BYTES
from tests.handshakes import assert_refused


async def connect_as(communicator, ws_credentials, user, room="lobby"):
    comm = communicator(f"/ws/chat/{room}/", **await ws_credentials(user))
    connected, _ = await comm.connect()
    assert connected
    return comm


def with_query(credentials, extra):
    """`credentials` with `extra` appended to their query string (which may be empty)."""
    query = "&".join(part for part in (credentials.get("query"), extra) if part)
    return {**credentials, "query": query}


async def test_authenticated_socket_chats_and_receives_its_own_message(
    communicator, ws_credentials, user
):
    comm = await connect_as(communicator, ws_credentials, user)

    await comm.send_json_to({"message": "hello"})

    assert await comm.receive_json_from() == {
        "type": "chat.message",
        "room": "lobby",
        "user": "alice",
        "message": "hello",
    }


async def test_handlers_run_without_a_thread_hop_per_message(
    communicator, ws_credentials, user, monkeypatch
):
    """Channels would close stale database connections in a thread before every handler: for
    the connect, each frame, each delivered message and the disconnect."""
    hops = []

    async def close_old_connections_in_a_thread():
        hops.append(1)

    monkeypatch.setattr(
        "channels.consumer.aclose_old_connections", close_old_connections_in_a_thread
    )
    comm = await connect_as(communicator, ws_credentials, user)
    await comm.send_json_to({"message": "hello"})
    assert (await comm.receive_json_from())["message"] == "hello"
    await comm.disconnect()

    assert hops == []


async def test_message_reaches_every_socket_in_the_room_and_no_other(
    communicator, ws_credentials, user, other_user
):
    alice = await connect_as(communicator, ws_credentials, user)
    bob = await connect_as(communicator, ws_credentials, other_user)
    elsewhere = await connect_as(communicator, ws_credentials, other_user, room="elsewhere")

    await bob.send_json_to({"message": "hi alice"})

    expected = {"type": "chat.message", "room": "lobby", "user": "bob", "message": "hi alice"}
    assert await alice.receive_json_from() == expected
    assert await bob.receive_json_from() == expected
    assert await elsewhere.receive_nothing()


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        "{}",
        '{"message": 42}',
        '{"message": ""}',
        json.dumps({"message": "x" * 4001}),
        b"\x00binary",
    ],
)
async def test_malformed_frame_gets_an_error_and_the_socket_stays_open(
    communicator, ws_credentials, user, frame
):
    comm = await connect_as(communicator, ws_credentials, user)

    if isinstance(frame, bytes):
        await comm.send_to(bytes_data=frame)
    else:
        await comm.send_to(text_data=frame)
    reply = await comm.receive_json_from()
    assert reply["type"] == "error"
    assert reply["error"]

    await comm.send_json_to({"message": "still here"})
    assert (await comm.receive_json_from())["message"] == "still here"


async def test_no_credential_is_refused(communicator):
    await assert_refused(communicator())


@pytest.mark.parametrize(
    "credentials",
    [
        {"query": "token="},
        {"query": "ticket="},
        {"query": "token=garbage"},
        {"query": "ticket=garbage"},
        {"query": "token=a&ticket=b"},
        {"query": "%ZZ=1"},
        {"query": "token=%ff%fe"},
        {"query": "ticket=%ff%fe"},
        {"query": "a=1&" * 20},
        {"query": "x=" + "y" * 10_000},
        {"subprotocols": ["chat.v1"]},
        {"subprotocols": ["chat.v1", "access_token."]},
        {"subprotocols": ["chat.v1", "access_token.garbage"]},
        {"subprotocols": ["access_token.a", "access_token.b"]},
        {"query": "token=a", "subprotocols": ["chat.v1", "access_token.a"]},
    ],
)
async def test_bad_credential_is_refused(communicator, credentials):
    await assert_refused(communicator(**credentials))


async def test_valid_credential_is_refused_when_repeated(communicator, ws_credentials, user):
    credentials = await ws_credentials(user)
    repeated = {
        "query": "&".join([credentials["query"]] * 2) if "query" in credentials else "",
        "subprotocols": credentials.get("subprotocols", []) * 2,
    }
    await assert_refused(communicator(**repeated))


async def test_valid_credential_is_refused_in_an_oversized_query_string(
    communicator, ws_credentials, user
):
    padding = f"padding={'p' * MAX_QUERY_STRING_BYTES}"
    await assert_refused(communicator(**with_query(await ws_credentials(user), padding)))


async def test_valid_credential_is_refused_among_too_many_parameters(
    communicator, ws_credentials, user
):
    padding = "&".join(f"p{i}=1" for i in range(MAX_QUERY_PARAMS + 1))
    await assert_refused(communicator(**with_query(await ws_credentials(user), padding)))


@pytest.mark.parametrize(
    "origin",
    [
        b"http://evil.example",
        b"http://localhost.evil.example",
        b"http://127.0.0.1.evil.example",
        b"null",
        b"",
        b"localhost",
    ],
)
async def test_origin_that_is_not_an_allowed_host_is_refused(
    communicator, ws_credentials, user, origin
):
    await assert_refused(communicator(**await ws_credentials(user), origin=origin))


@pytest.mark.parametrize(
    "origin", [b"http://localhost", b"http://localhost:8000", b"https://127.0.0.1:8443"]
)
async def test_origin_of_an_allowed_host_is_accepted(communicator, ws_credentials, user, origin):
    comm = communicator(**await ws_credentials(user), origin=origin)
    connected, _ = await comm.connect()
    assert connected


async def test_missing_origin_is_allowed_by_default(communicator, ws_credentials, user):
    comm = communicator(**await ws_credentials(user), origin=None)
    connected, _ = await comm.connect()
    assert connected


async def test_missing_origin_is_refused_when_required(
    communicator, ws_credentials, user, settings
):
    settings.WS_ALLOW_MISSING_ORIGIN = False
    await assert_refused(communicator(**await ws_credentials(user), origin=None))


@pytest.mark.parametrize(
    "path",
    [
        "/ws/chat/../admin/",
        "/ws/chat/a/b/",
        "/ws/chat/" + "r" * 200 + "/",
        "/ws/chat/caf\u00e9/",
        "/ws/chat//",
        "/ws/nowhere/",
        "/",
    ],
)
async def test_unknown_path_or_bad_room_name_is_refused(communicator, ws_credentials, user, path):
    await assert_refused(communicator(path, **await ws_credentials(user)))


async def test_accepts_with_the_chat_subprotocol_and_never_another_offered_one(
    communicator, ws_credentials, user
):
    credentials = await ws_credentials(user)
    # In the subprotocol mode the credentials offer chat.v1 and the token; else, offer chat.v1.
    offered = ["graphql-ws", *credentials.pop("subprotocols", ["chat.v1"])]

    connected, subprotocol = await communicator(**credentials, subprotocols=offered).connect()

    assert connected
    assert subprotocol == "chat.v1"


async def test_accepts_without_a_subprotocol_when_the_client_offers_none_of_ours(
    communicator, ws_credentials, user
):
    credentials = await ws_credentials(user)
    offered = ["graphql-ws", *credentials.pop("subprotocols", [])]
    offered = [protocol for protocol in offered if protocol != "chat.v1"]

    connected, subprotocol = await communicator(**credentials, subprotocols=offered).connect()

    assert connected
    assert subprotocol is None
