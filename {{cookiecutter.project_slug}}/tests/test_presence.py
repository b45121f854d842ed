"""Presence: the members a socket gets on joining, the diffs after, one member per user however
many sockets, only for those admitted, and entries of dead processes that expire."""

import asyncio
import json

import pytest
from django.test import override_settings

from realtime.models import presence_group
from realtime.presence import LocalPresence, PresenceTracker, RedisPresence, room_presence
from tests.test_history import FakeClock, open_socket
from tests.test_room_permissions import private_room


def metas(members, user):
    return [meta["ref"] for meta in members.get(user, {}).get("metas", [])]


async def next_diff(comm):
    frame = await comm.receive_json_from()
    assert frame["type"] == "presence.diff", frame
    return frame


@pytest.fixture(params=["local", "redis"])
def store(request):
    if request.param == "redis":
        request.getfixturevalue("redis_url")
        return RedisPresence()
    return LocalPresence()


async def test_a_socket_gets_the_members_then_joins_and_leaves(
    communicator, ws_credentials, user, other_user
):
    alice = await open_socket(communicator, ws_credentials, user, "p-room", "presence=1")
    state = await alice.receive_json_from()
    assert state["type"] == "presence.state"
    assert list(state["members"]) == ["alice"]
    (alice_ref,) = metas(state["members"], "alice")
    assert (await next_diff(alice))["joins"]["alice"]["metas"][0]["ref"] == alice_ref  # itself

    bob = await open_socket(communicator, ws_credentials, other_user, "p-room", "presence=1")
    bob_state = (await bob.receive_json_from())["members"]
    assert sorted(bob_state) == ["alice", "bob"]
    joined = await next_diff(alice)
    assert (list(joined["joins"]), joined["leaves"]) == (["bob"], {})

    await bob.disconnect()
    left = await next_diff(alice)
    assert (joined["joins"]["bob"], left["joins"]) == (left["leaves"]["bob"], {})


async def test_a_user_with_two_tabs_is_one_member_who_leaves_with_the_last(
    communicator, ws_credentials, user, other_user
):
    watcher = await open_socket(communicator, ws_credentials, other_user, "tabs", "presence=1")
    await watcher.receive_json_from()
    await next_diff(watcher)
    first = await open_socket(communicator, ws_credentials, user, "tabs")
    second = await open_socket(communicator, ws_credentials, user, "tabs", "presence=1")
    state = (await second.receive_json_from())["members"]
    assert sorted(state) == ["alice", "bob"]
    assert len(metas(state, "alice")) == 2
    first_ref = (await next_diff(watcher))["joins"]["alice"]["metas"][0]["ref"]
    second_ref = (await next_diff(watcher))["joins"]["alice"]["metas"][0]["ref"]

    await first.disconnect()
    assert metas((await next_diff(watcher))["leaves"], "alice") == [first_ref]
    members = (await room_presence().update("tabs", {}, now=0, members=True))[2]
    assert [json.loads(meta)["ref"] for meta in members.values() if "alice" in meta] == [second_ref]
    await second.disconnect()
    assert metas((await next_diff(watcher))["leaves"], "alice") == [second_ref]
    assert await watcher.receive_nothing()


async def test_a_refused_user_is_never_in_the_rooms_presence(
    communicator, ws_credentials, user, other_user
):
    await private_room("p-staff", user)
    alice = await open_socket(communicator, ws_credentials, user, "p-staff", "presence=1")
    assert list((await alice.receive_json_from())["members"]) == ["alice"]
    await next_diff(alice)

    bob = communicator("/ws/chat/p-staff/", **await ws_credentials(other_user))
    assert (await bob.connect())[0] is False
    assert await alice.receive_nothing()


async def test_presence_off_tracks_nothing(communicator, ws_credentials, user):
    with override_settings(CHAT_PRESENCE=False):
        alice = await open_socket(communicator, ws_credentials, user, "p-off", "presence=1")
        await alice.send_json_to({"message": "hi"})
        assert (await alice.receive_json_from())["type"] == "chat.message"
    assert (await room_presence().update("p-off", {}, now=0, members=True))[2] == {}


class Announcements:
    def __init__(self):
        self.diffs = []

    def tracker(self, clock, store):
        tracker = PresenceTracker(presence_group, clock, store)

        async def record(room, joins, leaves):
            if joins or leaves:
                self.diffs.append((room, set(joins), set(leaves)))

        tracker.announce = record
        return tracker


async def test_a_dead_processs_entries_expire_and_exactly_one_leave_is_announced(store):
    """A process that died left an entry nobody renews: past the TTL, the heartbeats of the two
    processes still alive remove it, and only the one that removed it announces the leave."""
    clock = FakeClock()
    room = f"p-ttl-{type(store).__name__}"
    dead_meta = json.dumps({"user": "ghost", "ref": "dead", "online_at": int(clock.now)})
    with override_settings(CHAT_PRESENCE_TTL=20):
        await store.update(room, {"dead": dead_meta}, clock.now)
        seen = Announcements()
        first, second = seen.tracker(clock, store), seen.tracker(clock, store)
        for tracker, ref in ((first, "alive-1"), (second, "alive-2")):
            tracker.local[room] = {ref: json.dumps({"user": ref, "ref": ref, "online_at": 0})}
        await first.heartbeat()
        await second.heartbeat()
        assert seen.diffs == [(room, {"alive-1"}, set()), (room, {"alive-2"}, set())]
        clock.now += 19  # within the TTL: renewed, nothing expires
        await first.heartbeat()
        await second.heartbeat()
        assert len(seen.diffs) == 2
        clock.now += 2  # the dead entry is past its TTL; the live ones were renewed 2 s ago
        await first.heartbeat()
        await second.heartbeat()

    assert seen.diffs[2:] == [(room, set(), {"dead"})]
    members = (await store.update(room, {}, clock.now, members=True))[2]
    assert set(members) == {"alive-1", "alive-2"}


async def test_an_entry_removed_while_its_socket_lives_is_put_back_as_a_join(store):
    clock = FakeClock()
    room = f"p-back-{type(store).__name__}"
    seen = Announcements()
    tracker = seen.tracker(clock, store)
    meta = json.dumps({"user": "a", "ref": "r1", "online_at": 0})
    tracker.local[room] = {"r1": meta}
    await tracker.heartbeat()
    await store.leave(room, "r1")  # as if it had expired while the process stalled

    await tracker.heartbeat()

    assert seen.diffs == [(room, {"r1"}, set()), (room, {"r1"}, set())]


class HeldLayer:
    """A channel layer whose first group_send waits until `release` is set; records every diff."""

    def __init__(self):
        self.sent = []
        self.release = asyncio.Event()

    async def group_send(self, group, event):
        self.sent.append((group, set(event["joins"]), set(event["leaves"])))
        if len(self.sent) == 1:
            await self.release.wait()


async def test_changes_made_while_a_diff_is_on_its_way_go_out_merged_in_one(monkeypatch):
    layer = HeldLayer()
    monkeypatch.setattr("realtime.presence.get_channel_layer", lambda: layer)
    tracker = PresenceTracker(presence_group, FakeClock(), LocalPresence())
    room = "p-storm"
    first = asyncio.create_task(tracker.join(room, "user-0"))
    while not layer.sent:  # noqa: ASYNC110 (the first diff is on its way once recorded)
        await asyncio.sleep(0)

    refs = [(await tracker.join(room, f"user-{n}"))[0] for n in range(1, 50)]
    await tracker.leave(room, refs[0])  # user-1 joined and left while waiting: never announced
    layer.release.set()
    await first
    while tracker.sending:  # noqa: ASYNC110 (the first join's task sends the merged diff)
        await asyncio.sleep(0)

    # Diffs name the members (users) who came or went.
    group = presence_group(room)
    assert layer.sent == [
        (group, {"user-0"}, set()),
        (group, {f"user-{n}" for n in range(2, 50)}, set()),
    ]
