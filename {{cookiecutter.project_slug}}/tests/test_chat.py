"""The chat consumer behind the auth middleware, in whichever auth mode this project was baked."""

import json

import pytest

from realtime.handshake import MAX_QUERY_PARAMS, MAX_QUERY_STRING_BYTES
from tests.conftest import assert_refused


async def connect_as(communicator, ws_query, user, room="lobby"):
    comm = communicator(f"/ws/chat/{room}/", query=await ws_query(user))
    connected, _ = await comm.connect()
    assert connected
    return comm


async def test_authenticated_socket_chats_and_receives_its_own_message(
    communicator, ws_query, user
):
    comm = await connect_as(communicator, ws_query, user)

    await comm.send_json_to({"message": "hello"})

    assert await comm.receive_json_from() == {
        "type": "chat.message",
        "room": "lobby",
        "user": "alice",
        "message": "hello",
    }


async def test_message_reaches_every_socket_in_the_room_and_no_other(
    communicator, ws_query, user, other_user
):
    alice = await connect_as(communicator, ws_query, user)
    bob = await connect_as(communicator, ws_query, other_user)
    elsewhere = await connect_as(communicator, ws_query, other_user, room="elsewhere")

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
    communicator, ws_query, user, frame
):
    comm = await connect_as(communicator, ws_query, user)

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
    "query",
    [
        "token=",
        "ticket=",
        "token=garbage",
        "ticket=garbage",
        "token=a&ticket=b",
        "%ZZ=1",
        "token=%ff%fe",
        "ticket=%ff%fe",
        "a=1&" * 20,
        "x=" + "y" * 10_000,
    ],
)
async def test_bad_credential_is_refused(communicator, query):
    await assert_refused(communicator(query=query))


async def test_valid_credential_is_refused_when_repeated(communicator, ws_query, user):
    query = await ws_query(user)
    await assert_refused(communicator(query=f"{query}&{query}"))


async def test_valid_credential_is_refused_in_an_oversized_query_string(
    communicator, ws_query, user
):
    query = await ws_query(user)
    await assert_refused(communicator(query=f"{query}&padding={'p' * MAX_QUERY_STRING_BYTES}"))


async def test_valid_credential_is_refused_among_too_many_parameters(communicator, ws_query, user):
    padding = "&".join(f"p{i}=1" for i in range(MAX_QUERY_PARAMS))
    await assert_refused(communicator(query=f"{await ws_query(user)}&{padding}"))


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
async def test_origin_that_is_not_an_allowed_host_is_refused(communicator, ws_query, user, origin):
    await assert_refused(communicator(query=await ws_query(user), origin=origin))


@pytest.mark.parametrize(
    "origin", [b"http://localhost", b"http://localhost:8000", b"https://127.0.0.1:8443"]
)
async def test_origin_of_an_allowed_host_is_accepted(communicator, ws_query, user, origin):
    comm = communicator(query=await ws_query(user), origin=origin)
    connected, _ = await comm.connect()
    assert connected


async def test_missing_origin_is_allowed_by_default(communicator, ws_query, user):
    comm = communicator(query=await ws_query(user), origin=None)
    connected, _ = await comm.connect()
    assert connected


async def test_missing_origin_is_refused_when_required(communicator, ws_query, user, settings):
    settings.WS_ALLOW_MISSING_ORIGIN = False
    await assert_refused(communicator(query=await ws_query(user), origin=None))


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
async def test_unknown_path_or_bad_room_name_is_refused(communicator, ws_query, user, path):
    await assert_refused(communicator(path, query=await ws_query(user)))
