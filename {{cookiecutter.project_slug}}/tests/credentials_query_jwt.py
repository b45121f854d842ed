"""How tests authenticate a WebSocket in this mode: the access JWT in the query string."""


async def ws_query_for(access) -> str:
    return f"token={access}"


def live_ws_query_for(server, username="alice") -> str:
    """The same, against a running server over HTTP."""
    return f"token={server.access_token(username)}"


def assert_live_credential_while_redis_is_down(server) -> None:
    """The access JWT is the credential, and issuing one needs no Redis: it still works."""
    assert server.access_token()
