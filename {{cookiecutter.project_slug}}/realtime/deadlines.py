"""Credential expiry timers shared by the sockets whose credentials expire at the same moment.

A JWT's `exp` is in whole seconds, so at scale many open sockets expire in the same second: each
such second gets one event-loop timer instead of one per socket. Measured reason: a uvloop timer
cost 0.5 KiB per idle socket (TimerHandle, its libuv timer, a context copy and a bound method,
by tracemalloc); a place in a shared moment costs a set entry.
"""

import asyncio
import contextvars
import time
import weakref


class SharedDeadline:
    """One moment (Unix time `when`), the consumers due then, and the one timer of the running
    event loop that calls `expiry_due()` on each of them at that moment.

    `leave(consumer)` takes a consumer off; the timer is cancelled when none is left. Once it
    has fired, a consumer added at the same moment gets a new SharedDeadline.
    """

    __slots__ = ("handle", "members", "moments", "when")

    def __init__(self, moments: dict, when: float):
        self.moments = moments
        self.when = when
        self.members = set()
        # In a context of its own: the callbacks run in none of the sockets' contexts.
        self.handle = asyncio.get_running_loop().call_later(
            max(when - time.time(), 0), self.fire, context=contextvars.Context()
        )

    def leave(self, consumer) -> None:
        self.members.discard(consumer)
        if not self.members and self.moments.get(self.when) is self:
            del self.moments[self.when]
            self.handle.cancel()

    def fire(self) -> None:
        if self.moments.get(self.when) is self:
            del self.moments[self.when]
        members, self.members = self.members, set()
        for consumer in members:
            consumer.expiry_due()


# One {moment: SharedDeadline} per event loop: a server process has one; tests make a loop each.
_moments_by_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def shared_deadline(when: float, consumer) -> SharedDeadline:
    """Add `consumer` to the running loop's SharedDeadline at `when` (made if there is none)."""
    loop = asyncio.get_running_loop()
    if (moments := _moments_by_loop.get(loop)) is None:
        moments = _moments_by_loop[loop] = {}
    if (deadline := moments.get(when)) is None:
        deadline = moments[when] = SharedDeadline(moments, when)
    deadline.members.add(consumer)
    return deadline
