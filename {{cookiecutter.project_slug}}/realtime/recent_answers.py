"""Who may open a WebSocket, answered from memory for up to a second.

Checking that a credential's user still exists and is active costs a database round trip (and,
from async code, a thread hop). Handshakes come in bursts from the same users, so each process
remembers each answer for at most MAX_AGE seconds: a user deactivated or deleted is refused by
every process within that time, and at once by the process that made the change (realtime.signals
empties the memo whenever a user is saved or deleted there).
"""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from functools import partial

# The bound on how long a change to a user can go unnoticed by a handshake, in any process.
MAX_AGE = 1.0
# Answers for more distinct credentials than this in one second are not all kept.
MAX_ENTRIES = 10_000


class RecentAnswers:
    """A process-local memo of async lookups, each answer served for at most `max_age` seconds.

    An answer's age counts from when its lookup started, so a change that the lookup could have
    missed is seen by the first lookup after `max_age`. Concurrent callers asking for the same
    key share one lookup. Used from the event loop; clear() may also be called from other
    threads (model signals fire wherever the model is saved).
    """

    def __init__(self, max_age: float = MAX_AGE, max_entries: int = MAX_ENTRIES):
        self.max_age = max_age
        self.max_entries = max_entries
        self.last_change = None
        self.clear()

    def clear(self) -> None:
        """Forget every answer, and the answers of lookups still running."""
        # Rebinding is atomic: code on the event loop keeps working on the dicts it holds.
        # key -> (started, answer) in the order stored: mostly oldest first, so that
        # forget_older_than finds most expired answers at the front.
        self._answers: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()
        self._pending: dict[Hashable, asyncio.Future] = {}

    def clear_once(self, change: Hashable) -> None:
        """clear(), unless this process did already for `change`: a change announced to many
        sockets at once is then looked up again once, not once per socket."""
        if change != self.last_change:
            self.last_change = change
            self.clear()

    def recent(self, key: Hashable):
        """The answer for `key` if one is recent enough, else None: a lookup without awaiting."""
        hit = self._fresh(self._answers, time.monotonic(), key)
        return None if hit is None else hit[1]

    def _fresh(self, answers, now, key):
        """The (started, answer) entry of `key` if it is younger than max_age, else None."""
        limit = now - self.max_age
        forget_older_than(answers, limit)
        hit = answers.get(key)
        # Answers are stored when their lookup ends but aged from when it started, so one may
        # sit behind a younger answer that forget_older_than stopped at: check every hit.
        if hit is None or hit[0] <= limit:
            return None
        return hit

    async def get(self, key: Hashable, lookup: Callable[[], Awaitable[object]]):
        """The answer for `key`: remembered if recent enough, else `await lookup()`."""
        answers, pending = self._answers, self._pending
        started = time.monotonic()
        if (hit := self._fresh(answers, started, key)) is not None:
            return hit[1]
        if (task := pending.get(key)) is None:
            # A task of its own: a caller that goes away does not cancel the others' lookup.
            task = pending[key] = asyncio.ensure_future(lookup())
            task.add_done_callback(partial(self._remember, answers, pending, key, started))
        return await asyncio.shield(task)

    def _remember(self, answers, pending, key, started, task) -> None:
        del pending[key]
        if task.cancelled() or task.exception() is not None:
            return  # raised to the callers; nothing to remember
        answers[key] = (started, task.result())
        answers.move_to_end(key)  # a key stored again goes to the back, with the newest
        if len(answers) > self.max_entries:
            answers.popitem(last=False)


def forget_older_than(answers: OrderedDict, limit: float) -> None:
    while answers:
        started, _ = next(iter(answers.values()))
        if started > limit:
            return
        answers.popitem(last=False)


recent_answers = RecentAnswers()
