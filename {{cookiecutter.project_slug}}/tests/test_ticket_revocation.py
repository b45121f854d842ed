"""Ticket mode: after a logout, logging out everywhere, a password change, a deactivation or a
deletion, an access token issued before it buys no ticket (tickets bought before it are refused
at redemption: tests/test_revocation_holds.py)."""

import pytest

from tests.test_revocation_holds import REVOCATIONS, revoke, sign_in
from tests.ticket_credentials import post_for_ticket


@pytest.mark.parametrize("kind", REVOCATIONS)
async def test_an_old_access_token_cannot_buy_a_ticket(user, kind):
    access, refresh = await sign_in(user)
    _, other_refresh = await sign_in(user)
    assert (await post_for_ticket(access)).status == 201  # and the answer is remembered

    await revoke(kind, user, refresh, other_refresh)

    assert (await post_for_ticket(access)).status == 401
