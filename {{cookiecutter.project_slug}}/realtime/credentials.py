"""WebSocket credentials: every place a handshake may carry one, finding the one it carries, and
what a checked credential proves (`Authentication`).

Where a handshake carries its credential is the project's choice (realtime/channelsmiddleware.py).
A handshake that carries more than one, one in another place, an empty one or a malformed query
string has none that can be trusted. Light on imports: the log filter (realtime.log_redaction)
loads it while Django configures logging.
"""

from dataclasses import dataclass
from urllib.parse import parse_qsl

# Every place a handshake may carry a credential, in any mode. A handshake that carries one in a
# place the project does not use is refused, so a misconfigured client fails loudly instead of
# leaking a token into URLs.
QUERY_PARAMETER_CREDENTIALS = ("token", "ticket")
# An access JWT offered as a subprotocol (a bearer subprotocol, as Kubernetes calls it):
# `Sec-WebSocket-Protocol: chat.v1, access_token.<jwt>`.
BEARER_SUBPROTOCOL_PREFIX = "access_token."

# Longer query strings or more parameters than this are refused before parsing.
MAX_QUERY_STRING_BYTES = 8192
MAX_QUERY_PARAMS = 16


@dataclass(frozen=True)
class Authentication:
    """Who a credential stands for, until when (unix seconds; None: no expiry), and in which
    sign-in session (its `sid`; None: a credential minted by code, of no session)."""

    user: object
    expires_at: int | None
    session_id: str | None = None


def query_params(scope) -> list[tuple[str, str]] | None:
    """The query string's (name, value) pairs, or None when it is oversized or malformed (not
    ASCII, percent-encoded bytes that are not UTF-8, too many parameters)."""
    raw = scope.get("query_string", b"")
    if len(raw) > MAX_QUERY_STRING_BYTES:
        return None
    try:
        return parse_qsl(
            raw.decode("ascii"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_QUERY_PARAMS,
        )
    except (UnicodeDecodeError, ValueError):
        return None


def credentials_carried(scope) -> list[tuple[str, str]] | None:
    """Every credential the handshake carries, as (place, value): a query parameter named in
    QUERY_PARAMETER_CREDENTIALS (place: its name), or a subprotocol that starts with
    BEARER_SUBPROTOCOL_PREFIX (place: the prefix). None when the query string is oversized or
    malformed."""
    pairs = query_params(scope)
    if pairs is None:
        return None
    found = [(name, value) for name, value in pairs if name in QUERY_PARAMETER_CREDENTIALS]
    found += [
        (BEARER_SUBPROTOCOL_PREFIX, protocol.removeprefix(BEARER_SUBPROTOCOL_PREFIX))
        for protocol in scope.get("subprotocols") or ()
        if protocol.startswith(BEARER_SUBPROTOCOL_PREFIX)
    ]
    return found


@dataclass(frozen=True)
class CredentialSource:
    """Where a handshake carries its credential: a query parameter's name, or
    BEARER_SUBPROTOCOL_PREFIX for a bearer subprotocol."""

    place: str

    def find(self, scope) -> str | None:
        """The credential at this place, or None unless it is the only one the handshake carries,
        it is not empty, and the query string is well-formed."""
        found = credentials_carried(scope)
        if found is None or len(found) != 1:
            return None
        place, value = found[0]
        return value if place == self.place and value else None


QUERY_TICKET = CredentialSource("ticket")
QUERY_TOKEN = CredentialSource("token")
BEARER_SUBPROTOCOL = CredentialSource(BEARER_SUBPROTOCOL_PREFIX)
