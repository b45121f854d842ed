"""Room history and resume: positions, bounds, epochs, and exactly-once delivery across a
reconnect, the race between the history read and the live messages included."""

import asyncio
import json
import threading

import pytest
import redis
from channels.layers import get_channel_layer
from django.test import override_settings

from realtime import consumers, history
from realtime.history import GAP_TOO_OLD, HISTORY_LOST, RESUMED, LocalHistory, RedisHistory
from realtime.models import room_group
from tests.handshakes import assert_refused
from tests.test_chat import with_query
from tests.test_room_permissions import private_room

CLOSE_BAD_REQUEST = {"type": "websocket.close", "code": 4400, "reason": "bad_request"}


async def open_socket(communicator, ws_credentials, user, room="lobby", query=""):
    comm = communicator(f"/ws/chat/{room}/", **with_query(await ws_credentials(user), query))
    connected, _ = await comm.connect()
    assert connected
    return comm


async def say(comm, *messages):
    """Send each message and wait for it to come back (so that it has its position)."""
    frames = []
    for message in messages:
        await comm.send_json_to({"message": message})
        frames.append(await comm.receive_json_from())
    return frames


class FakeClock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture(params=["local", "redis"])
def store_kind(request):
    if request.param == "redis":
        request.getfixturevalue("redis_url")
    return request.param


def make_store(kind, clock):
    return LocalHistory(clock) if kind == "local" else RedisHistory(clock)


async def test_a_socket_that_asks_gets_the_rooms_position_and_positioned_frames(
    communicator, ws_credentials, user
):
    alice = await open_socket(communicator, ws_credentials, user, "fresh-room", "history=1")
    welcome = await alice.receive_json_from()
    assert welcome["type"] == "history"
    assert (welcome["resume"], welcome["position"], welcome["messages"]) == ("fresh", 0, [])

    first, second = await say(alice, "one", "two")

    assert first == {
        "type": "chat.message",
        "room": "fresh-room",
        "user": "alice",
        "message": "one",
        "epoch": welcome["epoch"],
        "position": 1,
    }
    assert second["position"] == 2


async def test_a_non_member_gets_nothing_of_a_private_rooms_history(
    communicator, ws_credentials, user, other_user
):
    await private_room("staff", user)
    alice = await open_socket(communicator, ws_credentials, user, "staff", "history=1")
    epoch = (await alice.receive_json_from())["epoch"]
    await say(alice, "for members only")

    # Asking to resume from the start, with the room's own epoch, is refused like any handshake.
    resume = with_query(await ws_credentials(other_user), f"epoch={epoch}&position=0&presence=1")
    await assert_refused(communicator("/ws/chat/staff/", **resume))


async def test_resume_sends_exactly_the_missed_messages_in_order_before_live_ones(
    communicator, ws_credentials, user, other_user
):
    bob = await open_socket(communicator, ws_credentials, other_user, "resume-room", "history=1")
    epoch = (await bob.receive_json_from())["epoch"]
    alice = await open_socket(communicator, ws_credentials, user, "resume-room")
    await say(alice, "seen by bob")
    assert (await bob.receive_json_from())["position"] == 1
    await bob.disconnect()
    await say(alice, "missed 1", "missed 2", "missed 3")

    bob = await open_socket(
        communicator, ws_credentials, other_user, "resume-room", f"epoch={epoch}&position=1"
    )
    resumed = await bob.receive_json_from()
    await say(alice, "live")
    live = await bob.receive_json_from()

    assert (resumed["resume"], resumed["epoch"], resumed["position"]) == (RESUMED, epoch, 4)
    assert [(m["position"], m["message"]) for m in resumed["messages"]] == [
        (2, "missed 1"),
        (3, "missed 2"),
        (4, "missed 3"),
    ]
    assert (live["position"], live["message"]) == (5, "live")
    assert await bob.receive_nothing()


async def test_resume_at_the_top_is_resumed_with_nothing_to_send(
    communicator, ws_credentials, user
):
    alice = await open_socket(communicator, ws_credentials, user, "top-room", "history=1")
    epoch = (await alice.receive_json_from())["epoch"]
    await say(alice, "one")
    await alice.disconnect()

    alice = await open_socket(
        communicator, ws_credentials, user, "top-room", f"epoch={epoch}&position=1"
    )
    answer = await alice.receive_json_from()
    assert (answer["resume"], answer["position"], answer["messages"]) == (RESUMED, 1, [])


@override_settings(CHAT_HISTORY_SIZE=3)
async def test_a_gap_older_than_the_history_is_told_plainly(communicator, ws_credentials, user):
    alice = await open_socket(communicator, ws_credentials, user, "short-room", "history=1")
    epoch = (await alice.receive_json_from())["epoch"]
    await say(alice, *[f"m{n}" for n in range(1, 6)])
    await alice.disconnect()

    alice = await open_socket(
        communicator, ws_credentials, user, "short-room", f"epoch={epoch}&position=1"
    )
    answer = await alice.receive_json_from()
    assert (answer["resume"], answer["position"], answer["messages"]) == (GAP_TOO_OLD, 5, [])
    # Two messages back is within the three kept.
    await alice.disconnect()
    alice = await open_socket(
        communicator, ws_credentials, user, "short-room", f"epoch={epoch}&position=3"
    )
    answer = await alice.receive_json_from()
    assert answer["resume"] == RESUMED
    assert [m["message"] for m in answer["messages"]] == ["m4", "m5"]


async def test_another_epoch_is_history_lost_with_every_message_of_the_new_one(
    communicator, ws_credentials, user
):
    alice = await open_socket(communicator, ws_credentials, user, "epoch-room", "history=1")
    epoch = (await alice.receive_json_from())["epoch"]
    await say(alice, "after the loss")
    await alice.disconnect()

    alice = await open_socket(
        communicator, ws_credentials, user, "epoch-room", "epoch=an-old-epoch&position=40"
    )
    answer = await alice.receive_json_from()
    assert (answer["resume"], answer["epoch"]) == (HISTORY_LOST, epoch)
    assert [(m["position"], m["message"]) for m in answer["messages"]] == [(1, "after the loss")]


async def test_a_position_the_epoch_never_reached_is_history_lost(
    communicator, ws_credentials, user
):
    alice = await open_socket(communicator, ws_credentials, user, "ahead-room", "history=1")
    epoch = (await alice.receive_json_from())["epoch"]
    await alice.disconnect()
    alice = await open_socket(
        communicator, ws_credentials, user, "ahead-room", f"epoch={epoch}&position=7"
    )
    answer = await alice.receive_json_from()
    assert (answer["resume"], answer["position"], answer["messages"]) == (HISTORY_LOST, 0, [])


@pytest.mark.parametrize("published", ["before the read", "after the read"])
async def test_a_message_published_around_the_resume_read_arrives_exactly_once(
    communicator, ws_credentials, user, other_user, monkeypatch, published
):
    """The socket is in the room's group before it reads the history: a message published just
    before the read is in the read and also arrives live (sent once); one published just after
    it arrives live only (sent once, after the history)."""
    room = f"race-{published.split()[0]}"  # rooms are per test: histories outlive sockets
    alice = await open_socket(communicator, ws_credentials, user, room, "history=1")
    epoch = (await alice.receive_json_from())["epoch"]
    await say(alice, "one")
    real_resume = consumers.resume

    async def publish_around_the_read(room, since):
        if published == "before the read":
            await alice.send_json_to({"message": "in between"})
            await alice.receive_json_from()  # published: appended and sent to the group
        answer = await real_resume(room, since)
        if published == "after the read":
            await alice.send_json_to({"message": "in between"})
            await alice.receive_json_from()
        return answer

    monkeypatch.setattr(consumers, "resume", publish_around_the_read)
    bob = await open_socket(
        communicator, ws_credentials, other_user, room, f"epoch={epoch}&position=0"
    )
    frames = [await bob.receive_json_from()]
    await say(alice, "last")
    while (frame := await bob.receive_json_from())["message"] != "last":
        frames.append(frame)
    frames.append(frame)

    delivered = [m["message"] for m in frames[0]["messages"]] + [f["message"] for f in frames[1:]]
    assert delivered == ["one", "in between", "last"]
    assert await bob.receive_nothing()


async def test_live_messages_out_of_order_are_delivered_once_in_order(
    communicator, ws_credentials, user
):
    """Two publishers' messages may reach a socket in the other order: the one that comes early
    brings the one before it from the history; the late one is then not sent again."""
    alice = await open_socket(communicator, ws_credentials, user, "order-room", "history=1")
    await alice.receive_json_from()
    store = history.room_history()
    frames = []
    for text in ("first", "second"):
        event = {"type": "chat.message", "room": "order-room", "user": "x", "message": text}
        epoch, position = await store.append("order-room", json.dumps(event))
        frames.append({**event, "epoch": epoch, "position": position})
    layer = get_channel_layer()
    await layer.group_send(room_group("order-room"), frames[1])
    await layer.group_send(room_group("order-room"), frames[0])

    assert await alice.receive_json_from() == frames[0]
    assert await alice.receive_json_from() == frames[1]
    assert await alice.receive_nothing()


@pytest.mark.parametrize("trimmed_by", ["size", "age"])
async def test_a_live_gap_the_history_cannot_fill_is_told_plainly(
    communicator, ws_credentials, user, monkeypatch, trimmed_by
):
    """A live message that skips positions brings the ones between from the history; when the
    history no longer holds them (trimmed by size or by age), the socket is told `gap_too_old`
    at the position before the live message, as on resume, and is never sent a partial run."""
    room = f"live-gap-{trimmed_by}"
    alice = await open_socket(communicator, ws_credentials, user, room, "history=1")
    epoch = (await alice.receive_json_from())["epoch"]
    clock = FakeClock()
    store = history.room_history()
    monkeypatch.setattr(store, "clock", clock)
    frames = []
    with override_settings(CHAT_HISTORY_SIZE=3, CHAT_HISTORY_TTL=60):
        for n in range(1, 6):  # published, but none reached this socket live
            event = {"type": "chat.message", "room": room, "user": "x", "message": f"m{n}"}
            position = (await store.append(room, json.dumps(event)))[1]
            frames.append({**event, "epoch": epoch, "position": position})
            if trimmed_by == "age" and n == 4:
                clock.now += 61  # 1 to 4 are too old once 5 is published
        assert [f["position"] for f in frames] == [1, 2, 3, 4, 5]
        kept = await store.read(room, after=0)
        assert [p for p, _ in kept.entries] == ([3, 4, 5] if trimmed_by == "size" else [5])
        await get_channel_layer().group_send(room_group(room), frames[4])

        told = await alice.receive_json_from()
        assert (told["type"], told["resume"], told["epoch"]) == ("history", GAP_TOO_OLD, epoch)
        assert (told["position"], told["messages"]) == (4, [])
        assert await alice.receive_json_from() == frames[4]
        # The positions it was told are gone do not come later either.
        await get_channel_layer().group_send(room_group(room), frames[3])
        assert await alice.receive_nothing()


async def test_an_epoch_change_while_open_is_told_and_positions_restart(
    communicator, ws_credentials, user
):
    alice = await open_socket(communicator, ws_credentials, user, "restart-room", "history=1")
    await alice.receive_json_from()
    await say(alice, "one", "two")
    event = {"type": "chat.message", "room": "restart-room", "user": "x", "message": "new"}
    await get_channel_layer().group_send(
        room_group("restart-room"), {**event, "epoch": "another", "position": 1}
    )

    told = await alice.receive_json_from()
    assert (told["type"], told["resume"], told["epoch"]) == ("history", HISTORY_LOST, "another")
    assert (await alice.receive_json_from())["message"] == "new"


@pytest.mark.parametrize(
    "query",
    [
        "epoch=abc",
        "position=3",
        "epoch=abc&position=-1",
        "epoch=abc&position=1.5",
        "epoch=abc&position=%EF%BC%91",  # a full-width digit
        f"epoch=abc&position={2**53}",
        "epoch=abc&position=" + "9" * 5000,
        "epoch=" + "a" * 33 + "&position=1",
        "epoch=a%00b&position=1",
        "epoch=&position=1",
        "history=yes",
        "presence=true",
        "history=1&history=1",
    ],
)
async def test_a_malformed_request_is_refused_plainly(communicator, ws_credentials, user, query):
    comm = await open_socket(communicator, ws_credentials, user, "lobby", query)
    error = await comm.receive_json_from()
    assert error["type"] == "error"
    assert await comm.receive_output(timeout=1) == CLOSE_BAD_REQUEST


async def test_a_socket_that_asks_nothing_gets_the_frames_it_always_got(
    communicator, ws_credentials, user
):
    alice = await open_socket(communicator, ws_credentials, user, "plain-room")
    assert await say(alice, "hi") == [
        {"type": "chat.message", "room": "plain-room", "user": "alice", "message": "hi"}
    ]


@override_settings(CHAT_HISTORY=False)
async def test_history_off_numbers_nothing_and_sends_no_history_frame(
    communicator, ws_credentials, user
):
    alice = await open_socket(communicator, ws_credentials, user, "off-room", "history=1")
    assert await say(alice, "hi") == [
        {"type": "chat.message", "room": "off-room", "user": "alice", "message": "hi"}
    ]


# The stores on their own: bounds, epochs and concurrency, in memory and on Redis.


async def test_the_history_keeps_the_last_size_messages(store_kind):
    store = make_store(store_kind, FakeClock())
    with override_settings(CHAT_HISTORY_SIZE=3):
        for n in range(1, 6):
            await store.append("size-room", json.dumps({"n": n}))
        read = await store.read("size-room", after=0)
    assert read.top == 5
    assert [position for position, _ in read.entries] == [3, 4, 5]


async def test_messages_older_than_the_ttl_are_not_kept(store_kind):
    clock = FakeClock()
    store = make_store(store_kind, clock)
    with override_settings(CHAT_HISTORY_TTL=60):
        await store.append("age-room", '{"n": 1}')
        clock.now += 61
        await store.append("age-room", '{"n": 2}')
        read = await store.read("age-room", after=0)
        assert [position for position, _ in read.entries] == [2]
        clock.now += 61
        assert (await store.read("age-room", after=0)).entries == []


async def test_concurrent_appends_get_unique_consecutive_positions(store_kind):
    store = make_store(store_kind, FakeClock())

    async def append_many(count):
        return [
            position
            for _, position in await asyncio.gather(
                *(store.append("busy-room", "{}") for _ in range(count))
            )
        ]

    elsewhere = []
    if store_kind == "redis":
        # Another event loop in another thread: another connection, as another process has.
        thread = threading.Thread(target=lambda: elsewhere.extend(asyncio.run(append_many(100))))
        thread.start()
    here = await append_many(100)
    if store_kind == "redis":
        await asyncio.to_thread(thread.join)
    positions = here + elsewhere
    assert sorted(positions) == list(range(1, len(positions) + 1))
    assert here == sorted(here)


async def test_a_flushed_redis_starts_a_new_epoch(throwaway_redis, settings):
    """After FLUSHDB (or a restart without persistence), positions restart under a new epoch:
    an old position is never taken for a valid one."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": throwaway_redis.url,
        }
    }
    store = RedisHistory()
    before, _ = await store.append("flushed-room", "{}")
    await store.append("flushed-room", "{}")
    with redis.Redis.from_url(throwaway_redis.url) as client:
        client.flushdb()

    after = await store.read("flushed-room", after=2)

    assert after.epoch != before
    assert after.top == 0
    outcome, _ = await history.resume("flushed-room", history.Since(before, 2))
    assert outcome == HISTORY_LOST
