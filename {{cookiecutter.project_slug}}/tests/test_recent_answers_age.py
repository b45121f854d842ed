"""No remembered answer is served once it is MAX_AGE old, whatever order the lookups finished in."""

import asyncio

import pytest

from realtime.recent_answers import RecentAnswers


@pytest.fixture
def clock(monkeypatch):
    """A fake time.monotonic for realtime.recent_answers, moved by hand."""
    now = [1000.0]
    monkeypatch.setattr("realtime.recent_answers.time.monotonic", lambda: now[0])
    return now


class HeldLookup:
    """A lookup that answers when released, and counts its calls."""

    def __init__(self, answer):
        self.answer = answer
        self.release = asyncio.Event()
        self.calls = 0

    async def __call__(self):
        self.calls += 1
        await self.release.wait()
        return self.answer


async def test_an_answer_stored_behind_a_younger_one_is_not_served_past_max_age(clock):
    answers = RecentAnswers(max_age=1.0)
    slow, quick = HeldLookup("slow answer"), HeldLookup("quick answer")
    slow_caller = asyncio.ensure_future(answers.get("slow", slow))
    await asyncio.sleep(0)  # the slow lookup starts at t=1000.0
    clock[0] += 0.5
    quick.release.set()
    assert await answers.get("quick", quick) == "quick answer"  # started at 1000.5, stored first
    slow.release.set()
    assert await slow_caller == "slow answer"  # started at 1000.0, stored behind "quick"

    clock[0] += 0.7  # 1.2 s after the slow lookup started, 0.7 s after the quick one

    assert answers.recent("slow") is None
    assert await answers.get("slow", slow) == "slow answer"
    assert slow.calls == 2
    assert answers.recent("quick") == "quick answer"
