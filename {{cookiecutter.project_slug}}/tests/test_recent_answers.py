"""Handshakes reuse a user lookup for at most a second (realtime.recent_answers): a deactivated
or deleted user is refused at once by the process that made the change, and within MAX_AGE by
every other. A remembered access token is refused as soon as it expires."""

import asyncio
from types import SimpleNamespace
from unittest.mock import Mock

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connection
from websockets.exceptions import InvalidStatus

from realtime import access_tokens
from realtime.access_tokens import authenticate_access_token, jwt_authentication, leeway_seconds
from realtime.recent_answers import MAX_AGE, RecentAnswers, recent_answers
from tests.credentials import live_ws_credentials_for


class Lookups:
    """A lookup that counts its calls and answers what it is told to."""

    def __init__(self, answer="answer"):
        self.answer = answer
        self.calls = 0

    async def __call__(self):
        self.calls += 1
        await asyncio.sleep(0)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def clock(monkeypatch):
    """A fake time.monotonic for realtime.recent_answers, moved by hand."""
    now = [1000.0]
    monkeypatch.setattr("realtime.recent_answers.time.monotonic", lambda: now[0])
    return now


async def test_an_answer_is_reused_for_less_than_max_age(clock):
    answers, lookup = RecentAnswers(max_age=1.0), Lookups()

    assert await answers.get("k", lookup) == "answer"
    clock[0] += 0.99
    assert await answers.get("k", lookup) == "answer"
    assert lookup.calls == 1

    clock[0] += 0.01  # MAX_AGE after the first lookup started
    lookup.answer = "new answer"
    assert await answers.get("k", lookup) == "new answer"
    assert lookup.calls == 2


async def test_concurrent_callers_share_one_lookup():
    answers, lookup = RecentAnswers(), Lookups()

    results = await asyncio.gather(*(answers.get("k", lookup) for _ in range(10)))

    assert results == ["answer"] * 10
    assert lookup.calls == 1


async def test_failed_lookups_are_not_remembered():
    answers, lookup = RecentAnswers(), Lookups(answer=ConnectionError("database down"))

    with pytest.raises(ConnectionError):
        await answers.get("k", lookup)
    lookup.answer = "answer"

    assert await answers.get("k", lookup) == "answer"


async def test_an_answer_looked_up_across_a_clear_is_not_remembered():
    answers = RecentAnswers()
    release = asyncio.Event()

    async def slow_lookup():
        await release.wait()
        return "from before the change"

    pending = asyncio.ensure_future(answers.get("k", slow_lookup))
    await asyncio.sleep(0)
    answers.clear()  # the user changed while the lookup was running
    release.set()
    assert await pending == "from before the change"  # as without any cache

    assert await answers.get("k", Lookups("after")) == "after"


def test_answers_are_bounded():
    answers = RecentAnswers(max_entries=3)

    async def fill():
        for key in range(5):
            await answers.get(key, Lookups(key))

    asyncio.run(fill())

    assert list(answers._answers) == [2, 3, 4]


# The handshake's access-token check, end to end against the database.


def deactivate_unnoticed(user):
    """Deactivate `user` the way another process would: no model signal reaches this one."""
    get_user_model()._default_manager.filter(pk=user.pk).update(is_active=False)


def delete_unnoticed(user):
    """Delete `user` without model signals, as another process (or plain SQL) would."""
    meta = get_user_model()._meta
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {meta.db_table} WHERE {meta.pk.column} = %s", [user.pk])  # noqa: S608


async def refused_within_max_age(token):
    """Whether `token` is refused MAX_AGE after a change this process did not hear about.

    The token was accepted just before the change, so its answer was fresh in memory.
    """
    await asyncio.sleep(MAX_AGE)
    return await authenticate_access_token(token) is None


@pytest.mark.parametrize("change", [deactivate_unnoticed, delete_unnoticed])
async def test_a_change_made_elsewhere_is_seen_within_max_age(user, access_token, change):
    token = access_token(user)
    assert (await authenticate_access_token(token)).user == user

    await sync_to_async(change)(user)

    assert await refused_within_max_age(token)


@pytest.mark.parametrize("change", ["deactivate", "delete"])
async def test_a_change_made_in_this_process_is_seen_at_once(user, access_token, change):
    token = access_token(user)
    assert (await authenticate_access_token(token)).user == user

    if change == "deactivate":
        user.is_active = False
        await sync_to_async(user.save)()
    else:
        await sync_to_async(user.delete)()

    assert await authenticate_access_token(token) is None


@pytest.mark.parametrize("check", ["get_validated_token", "get_user"])
async def test_handshakes_within_the_second_neither_decode_the_token_nor_look_the_user_up_again(
    user, access_token, monkeypatch, check
):
    counted = Mock(wraps=getattr(jwt_authentication, check))
    monkeypatch.setattr(jwt_authentication, check, counted)
    token = access_token(user)

    for _ in range(5):
        assert await authenticate_access_token(token) is not None

    counted.assert_called_once()


@pytest.mark.parametrize("seconds_past_expiry, accepted", [(-1, True), (0, False), (60, False)])
async def test_a_remembered_token_is_refused_once_it_expires(
    user, access_token, settings, monkeypatch, seconds_past_expiry, accepted
):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "LEEWAY": 5}
    token = access_token(user)
    expires_at = (await authenticate_access_token(token)).expires_at

    # The clock passes the token's expiry (plus LEEWAY, as simplejwt counts it) while its answer
    # is still remembered.
    now = expires_at + leeway_seconds() + seconds_past_expiry
    monkeypatch.setattr(access_tokens, "time", SimpleNamespace(time=lambda: now))

    assert (await authenticate_access_token(token) is not None) is accepted


async def test_refused_tokens_are_not_remembered(user, other_user, access_token):
    inactive_users_token = access_token(other_user)
    await sync_to_async(get_user_model()._default_manager.filter(pk=other_user.pk).update)(
        is_active=False
    )
    recent_answers.clear()
    junk = ["junk", access_token(user)[:-4] + "AAAA", "a.b.c"]

    for token in junk:
        assert await authenticate_access_token(token) is None
    assert not recent_answers._answers  # a flood of junk cannot push valid answers out

    # A valid token whose user may not connect is remembered, refused, for MAX_AGE.
    assert await authenticate_access_token(inactive_users_token) is None
    assert list(recent_answers._answers) == [("access token", inactive_users_token)]


async def test_a_settings_change_forgets_remembered_tokens(
    user, access_token, settings, monkeypatch
):
    get_validated_token = Mock(wraps=jwt_authentication.get_validated_token)
    monkeypatch.setattr(jwt_authentication, "get_validated_token", get_validated_token)
    token = access_token(user)
    assert await authenticate_access_token(token) is not None

    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "LEEWAY": 1}

    assert await authenticate_access_token(token) is not None
    assert get_validated_token.call_count == 2  # checked again under the new settings


@pytest.mark.server
@pytest.mark.parametrize("change", ["deactivate", "delete"])
async def test_server_refuses_a_user_changed_by_another_process_within_max_age(
    server_process, change
):
    server = server_process()
    first, second = [await asyncio.to_thread(live_ws_credentials_for, server) for _ in range(2)]
    async with server.websocket(**first):
        pass  # accepted: the server now remembers that this user may connect

    # Straight into the server's database: no model signal reaches the server process.
    meta = get_user_model()._meta
    alice = f"WHERE {meta.get_field('username').column} = 'alice'"
    statement = {
        "deactivate": f"UPDATE {meta.db_table} SET is_active = 0 {alice}",  # noqa: S608
        "delete": f"DELETE FROM {meta.db_table} {alice}",  # noqa: S608
    }[change]
    await asyncio.to_thread(server.execute_sql, statement)
    await asyncio.sleep(MAX_AGE)

    with pytest.raises(InvalidStatus) as refused:
        async with server.websocket(**second):
            pass
    assert refused.value.response.status_code == 403
