"""Room permissions: public rooms for everyone signed in, private rooms for their members only;
a member removed from a room (or a room made private) loses their sockets in it at once."""

import string

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib import admin
from django.db import transaction
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from realtime import consumers
from realtime.models import Room
from tests.handshakes import assert_refused
from tests.live_server import free_port

CLOSE_NOT_A_MEMBER = {"type": "websocket.close", "code": 4403, "reason": "not_a_member"}


@sync_to_async
def private_room(name, *members):
    # Created with its members in one transaction, as the admin does: a room made private
    # re-checks the sockets in it once the change is committed.
    with transaction.atomic():
        room = Room.objects.create(name=name, private=True)
        room.members.add(*members)
    return room


async def open_socket(communicator, ws_credentials, user, room):
    comm = communicator(f"/ws/chat/{room}/", **await ws_credentials(user))
    connected, _ = await comm.connect()
    assert connected
    return comm


async def test_a_room_with_no_row_is_public(communicator, ws_credentials, user):
    comm = await open_socket(communicator, ws_credentials, user, "anything-goes")
    await comm.send_json_to({"message": "hi"})
    assert (await comm.receive_json_from())["message"] == "hi"


async def test_a_public_row_admits_everyone(communicator, ws_credentials, user):
    await sync_to_async(Room.objects.create)(name="open-plan", private=False)
    await open_socket(communicator, ws_credentials, user, "open-plan")


async def test_a_non_member_is_refused_at_the_handshake_to_a_private_room(
    communicator, ws_credentials, user, other_user
):
    await private_room("staff", user)

    await open_socket(communicator, ws_credentials, user, "staff")
    await assert_refused(communicator("/ws/chat/staff/", **await ws_credentials(other_user)))


async def test_a_member_added_is_admitted_at_once(communicator, ws_credentials, user, other_user):
    room = await private_room("staff", user)
    await assert_refused(communicator("/ws/chat/staff/", **await ws_credentials(other_user)))

    await sync_to_async(room.members.add)(other_user)

    # The refusal remembered a moment ago is forgotten by the change.
    await open_socket(communicator, ws_credentials, other_user, "staff")


async def test_a_refused_sender_gets_an_error_and_nothing_is_sent(
    communicator, ws_credentials, user, other_user, monkeypatch
):
    async def read_only(user, room):
        return False

    monkeypatch.setattr(consumers, "can_send", read_only)
    alice = await open_socket(communicator, ws_credentials, user, "announcements")
    bob = await open_socket(communicator, ws_credentials, other_user, "announcements")

    await alice.send_json_to({"message": "hello"})

    assert await alice.receive_json_from() == {
        "type": "error",
        "error": "not allowed to send in this room",
    }
    assert await bob.receive_nothing()


REMOVALS = {
    "remove": lambda room, user: room.members.remove(user),
    "clear": lambda room, user: room.members.clear(),
    "remove, from the user's side": lambda room, user: user.rooms.remove(room),
    "clear, from the user's side": lambda room, user: user.rooms.clear(),
    "set without them": lambda room, user: room.members.set([]),
    "delete the room": lambda room, user: room.delete(),
}


@pytest.mark.parametrize("removal", REMOVALS)
async def test_a_removed_member_loses_their_sockets_in_that_room_only(
    communicator, ws_credentials, user, other_user, removal
):
    room = await private_room("staff", user)
    in_staff = await open_socket(communicator, ws_credentials, user, "staff")
    in_lobby = await open_socket(communicator, ws_credentials, user, "lobby")
    bob_in_lobby = await open_socket(communicator, ws_credentials, other_user, "lobby")

    await sync_to_async(REMOVALS[removal])(room, user)

    assert await in_staff.receive_output(timeout=1) == CLOSE_NOT_A_MEMBER
    assert await in_lobby.receive_nothing()
    assert await bob_in_lobby.receive_nothing()
    if removal != "delete the room":  # a deleted room's name is public
        await assert_refused(communicator("/ws/chat/staff/", **await ws_credentials(user)))


async def test_a_member_whose_removal_never_reached_the_socket_is_closed_at_its_next_refresh(
    communicator, ws_credentials, user, access_token
):
    room = await private_room("staff", user)
    in_staff = await open_socket(communicator, ws_credentials, user, "staff")
    # The membership row goes without a broadcast, as when Redis was down at the removal.
    await sync_to_async(Room.members.through.objects.filter(room=room, user=user).delete)()

    await in_staff.send_json_to({"type": "auth", "token": access_token(user)})

    assert (await in_staff.receive_json_from())["type"] == "auth.ok"
    assert await in_staff.receive_output(timeout=1) == CLOSE_NOT_A_MEMBER


def test_a_member_removed_while_redis_is_unreachable_is_saved_with_one_warning(user, caplog):
    room = Room.objects.create(name="staff", private=True)
    room.members.add(user)
    unreachable = {
        "BACKEND": "realtime.layers.BacklogPubSubChannelLayer",
        "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
    }

    with override_settings(CHANNEL_LAYERS={"default": unreachable}):
        room.members.remove(user)

    assert not room.members.exists()
    warnings = [r for r in caplog.records if r.name == "realtime.revocation"]
    assert [r.levelname for r in warnings] == ["WARNING"]
    assert f"room.removed to user.{user.pk} not sent" in warnings[0].getMessage()


async def test_removing_someone_else_leaves_a_members_socket_open(
    communicator, ws_credentials, user, other_user
):
    room = await private_room("staff", user, other_user)
    alice = await open_socket(communicator, ws_credentials, user, "staff")

    await sync_to_async(room.members.remove)(other_user)

    assert await alice.receive_nothing()


@pytest.mark.parametrize("how", ["created private", "made private", "renamed to it"])
async def test_a_room_made_private_closes_the_sockets_of_non_members(
    communicator, ws_credentials, user, other_user, how
):
    alice = await open_socket(communicator, ws_credentials, user, "team")
    bob = await open_socket(communicator, ws_credentials, other_user, "team")

    @sync_to_async
    def make_private():
        with transaction.atomic():
            if how == "created private":
                Room.objects.create(name="team", private=True).members.add(user)
                return
            room = Room.objects.create(
                name="team" if how == "made private" else "elsewhere",
                private=how == "renamed to it",
            )
            room.members.add(user)
        room.name, room.private = "team", True
        room.save()

    await make_private()

    assert await bob.receive_output(timeout=1) == CLOSE_NOT_A_MEMBER
    assert await alice.receive_nothing()


async def test_a_recheck_looks_past_answers_remembered_before_the_change(
    communicator, ws_credentials, other_user
):
    """Another process made the room private: this one's remembered answers are out of date."""
    bob = await open_socket(communicator, ws_credentials, other_user, "team")  # remembered: public
    # bulk_create sends no signal: nothing in this process forgets the answers it remembers.
    await sync_to_async(Room.objects.bulk_create)([Room(name="team", private=True)])

    await get_channel_layer().group_send("chat.team", {"type": "room.recheck", "change": "x"})

    assert await bob.receive_output(timeout=1) == CLOSE_NOT_A_MEMBER


@pytest.mark.django_db
def test_the_admin_edits_rooms_and_their_members(client, django_user_model):
    assert admin.site.is_registered(Room)
    staff = django_user_model.objects.create_superuser("admin", password="x")
    client.force_login(staff)

    response = client.get("/admin/realtime/room/add/")

    assert response.status_code == 200
    assert b'name="members"' in response.content
    assert b"selectfilter" in response.content  # filter_horizontal's widget


room_names = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=64)


@hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=room_names,
    kind=st.sampled_from(["no row", "public", "private, member", "private, not a member"]),
)
async def test_any_room_name_admits_exactly_whom_its_row_says(
    communicator, ws_credentials, user, empty_cache, name, kind
):
    empty_cache()  # many tickets for one user: keep the throttle out of it

    @sync_to_async
    def arrange():
        Room.objects.all().delete()
        if kind != "no row":
            room = Room.objects.create(name=name, private=kind.startswith("private"))
            if kind == "private, member":
                room.members.add(user)

    await arrange()
    comm = communicator(f"/ws/chat/{name}/", **await ws_credentials(user))
    connected, _ = await comm.connect()
    await comm.disconnect()

    assert connected is (kind != "private, not a member")
