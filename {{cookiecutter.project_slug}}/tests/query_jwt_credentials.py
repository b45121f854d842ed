"""How tests authenticate a WebSocket in the query_jwt mode: the access JWT in the query string."""

# What a handshake gets during a Redis outage: the JWT needs no Redis, so it is accepted, then
# closed with 1013 (try again later) when its groups cannot be joined.
HANDSHAKE_DURING_A_REDIS_OUTAGE = (101, 1013)


def token_credentials(access) -> dict:
    """Present a raw token, valid or not, the way this mode does."""
    return {"query": f"token={access}"}


async def ws_credentials_for(access) -> dict:
    return token_credentials(access)


def live_ws_credentials_for(server, username="alice") -> dict:
    """The same, against a running server over HTTP."""
    return token_credentials(server.access_token(username))


def live_ws_credentials_with(server, access) -> dict:
    """The credentials of this access token, for a running server."""
    return token_credentials(access)


def live_ws_credentials_many(server, count, username="alice") -> list[dict]:
    """`count` credentials for sockets of `username`: here one token serves them all."""
    return [live_ws_credentials_for(server, username)] * count


def assert_live_credential_while_redis_is_down(server) -> None:
    """The access JWT is the credential, and issuing one needs no Redis: it still works."""
    assert server.access_token()
