"""How the benchmark's sockets authenticate, one function per auth mode, keyed by mode name.

Each function turns `count` users' access tokens into `count` handshake credentials; in the
ticket mode that is one POST /api/ws-ticket/ each, which the benchmark does before it starts the
clock on the connects (the full ticket flow is measured as a scenario of its own).
"""

import asyncio

from bench.client import Credential, HttpConnection

# The auth mode whose middleware takes its credential from each place (the `place` of the baked
# project's realtime.credentials.CredentialSource: a query parameter, or the bearer subprotocol).
MODE_BY_CREDENTIAL_PLACE = {
    "ticket": "ticket",
    "token": "query_jwt",
    "access_token.": "subprotocol",
}
# Parallel HTTP connections when fetching many tickets before a measurement.
TICKET_FETCHERS = 8


async def query_jwt_credentials(http_url: str, tokens: list[str]) -> list[Credential]:
    return [Credential(query=f"token={token}") for token in tokens]


async def subprotocol_credentials(http_url: str, tokens: list[str]) -> list[Credential]:
    return [Credential(subprotocols=("chat.v1", f"access_token.{token}")) for token in tokens]


async def ticket_credentials(http_url: str, tokens: list[str]) -> list[Credential]:
    credentials = [None] * len(tokens)

    async def fetch(worker: int):
        http = HttpConnection(http_url)
        try:
            for i in range(worker, len(tokens), TICKET_FETCHERS):
                ticket = await post_for_ticket(http, tokens[i])
                credentials[i] = Credential(query=f"ticket={ticket}")
        finally:
            await http.close()

    await asyncio.gather(*(fetch(worker) for worker in range(TICKET_FETCHERS)))
    return credentials


async def post_for_ticket(http: HttpConnection, token: str) -> str:
    status, body = await http.post_json("/api/ws-ticket/", bearer=token)
    if status != 201:
        raise RuntimeError(f"POST /api/ws-ticket/: {status} {body}")
    return body["ticket"]


CREDENTIALS = {
    "ticket": ticket_credentials,
    "query_jwt": query_jwt_credentials,
    "subprotocol": subprotocol_credentials,
}


async def credentials_for(auth_mode: str, http_url: str, tokens: list[str]) -> list[Credential]:
    """One credential per access token, in the way a project baked with `auth_mode` expects."""
    return await CREDENTIALS[auth_mode](http_url, tokens)
