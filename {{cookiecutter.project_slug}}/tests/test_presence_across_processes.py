"""Presence across server processes on Redis: each process's users are members everywhere, and a
process that dies without running a disconnect handler (SIGKILL) leaves its users in presence at
most `ghost_bound(CHAT_PRESENCE_TTL)` seconds (realtime/presence.py); the heartbeat of a process
still serving the room announces their leaves. A user with a socket on a live process stays a
member: a user leaves with their last socket.
"""

import asyncio
import json
import time

import pytest

from realtime.presence import ghost_bound
from tests.credentials import live_ws_credentials_with

pytestmark = pytest.mark.server

# The servers' CHAT_PRESENCE_TTL: a dead process's users are gone within ghost_bound(TTL) = 4 s.
TTL = 3
# On top of the bound: a heartbeat that a busy machine starts late, and the diff's way through
# Redis to the socket.
SLACK_SECONDS = 10
# Guards against a hang only: without expiry, the leave never comes.
HANG_GUARD_SECONDS = 60
ROOM = "ghosts"


class PresenceView:
    """Each member's refs as a client that asked for presence knows them: the socket's
    `presence.state`, then every `presence.diff` applied in order (joins, then leaves)."""

    def __init__(self, websocket):
        self.websocket = websocket
        self.refs: dict[str, set[str]] = {}
        self.left: list[tuple[str, str]] = []  # (user, ref) of every leave, in order

    async def until(self, condition) -> dict[str, set[str]]:
        """Read frames until `condition(refs)` holds; the refs then."""
        try:
            async with asyncio.timeout(HANG_GUARD_SECONDS):
                while not condition(self.refs):
                    self.apply(json.loads(await self.websocket.recv()))
        except TimeoutError:
            pytest.fail(f"still {self.refs} after {HANG_GUARD_SECONDS} s (left: {self.left})")
        return self.refs

    def apply(self, frame: dict) -> None:
        if frame["type"] == "presence.state":
            self.refs = {user: refs_of(member) for user, member in frame["members"].items()}
        elif frame["type"] == "presence.diff":
            for user, member in frame["joins"].items():
                self.refs.setdefault(user, set()).update(refs_of(member))
            for user, member in frame["leaves"].items():
                self.left += [(user, ref) for ref in refs_of(member)]
                remaining = self.refs.get(user, set()) - refs_of(member)
                if remaining:
                    self.refs[user] = remaining
                else:
                    self.refs.pop(user, None)


def refs_of(member: dict) -> set[str]:
    return {meta["ref"] for meta in member["metas"]}


async def open_socket(server, access, query=""):
    """A chat socket in ROOM on `server`, with a fresh credential for this access token."""
    credentials = await asyncio.to_thread(live_ws_credentials_with, server, access)
    query = "&".join(part for part in (credentials.get("query"), query) if part)
    return await server.websocket(f"/ws/chat/{ROOM}/", **{**credentials, "query": query})


async def test_a_killed_processs_users_leave_within_the_bound_and_a_user_stays_with_a_live_socket(
    redis_url, server_process
):
    doomed = server_process(CHAT_PRESENCE_TTL=str(TTL))
    staying = server_process(CHAT_PRESENCE_TTL=str(TTL))
    alice_access = await asyncio.to_thread(doomed.access_token, "alice")
    bob_access = await asyncio.to_thread(staying.access_token, "bob")
    sockets = []
    try:
        # alice on the doomed process; bob on the other, and in a second tab on the doomed one.
        sockets.append(alice := await open_socket(doomed, alice_access, "presence=1"))
        sockets.append(bob := await open_socket(staying, bob_access, "presence=1"))
        alice_sees, bob_sees = PresenceView(alice), PresenceView(bob)
        await alice_sees.until(lambda refs: {"alice", "bob"} <= refs.keys())
        refs = await bob_sees.until(lambda refs: {"alice", "bob"} <= refs.keys())
        (alice_ref,), (bob_ref,) = refs["alice"], refs["bob"]
        sockets.append(await open_socket(doomed, bob_access))
        refs = await bob_sees.until(lambda refs: len(refs.get("bob", ())) == 2)
        (bob_tab_ref,) = refs["bob"] - {bob_ref}

        doomed.process.kill()  # SIGKILL: no disconnect handler runs, no leave is sent
        killed_at = time.monotonic()
        await asyncio.to_thread(doomed.process.wait)

        await bob_sees.until(lambda refs: "alice" not in refs and refs.get("bob") == {bob_ref})
        gone_after = time.monotonic() - killed_at
    finally:
        for websocket in sockets:
            await websocket.close()

    assert ("alice", alice_ref) in bob_sees.left
    assert ("bob", bob_tab_ref) in bob_sees.left
    assert ("bob", bob_ref) not in bob_sees.left  # bob stays a member, with his live socket
    bound = ghost_bound(TTL)
    assert gone_after <= bound + SLACK_SECONDS, f"gone {gone_after:.1f} s after the kill"
    print(f"gone {gone_after:.1f} s after the kill, bound {bound:g} s")  # shown with -s
