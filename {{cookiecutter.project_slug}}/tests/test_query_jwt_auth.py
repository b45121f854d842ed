"""Query-string JWT mode: the access token counts in `?token=` only, alone and bare."""

import pytest

from tests.handshakes import assert_refused


async def test_ticket_parameter_is_refused_in_this_mode(communicator, user, access_token):
    access = access_token(user)
    await assert_refused(communicator(query=f"ticket={access}"))
    await assert_refused(communicator(query=f"token={access}&ticket=x"))


async def test_token_subprotocol_is_refused_in_this_mode(communicator, user, access_token):
    access = access_token(user)
    await assert_refused(communicator(subprotocols=["chat.v1", f"access_token.{access}"]))
    # Even next to a valid `?token=`: the client is sending two credentials.
    subprotocols = ["chat.v1", f"access_token.{access}"]
    await assert_refused(communicator(query=f"token={access}", subprotocols=subprotocols))


@pytest.mark.parametrize("prefix", ["Bearer ", "Bearer%20", "Bearer+"])
async def test_bearer_prefix_is_refused(communicator, user, access_token, prefix):
    access = access_token(user)
    await assert_refused(communicator(query=f"token={prefix}{access}"))
