"""Every close code this project's sockets end with, as (code, reason).

44xx codes mirror the HTTP status a request would have got (as graphql-ws does); 1xxx codes are
from the RFC 6455 registry. What a client should do on each is in README.md's close-code table.
"""

TOKEN_EXPIRED = (4401, "token_expired")  # get a fresh credential, reconnect
LOGGED_OUT = (4401, "logged_out")  # sign in again
AUTH_FAILED = (4403, "auth_failed")  # in-band refresh refused: stop, sign in again
# The client read its messages slower than they came: its socket's backlog in the channel layer
# (CHANNEL_BACKLOG_LIMIT) overflowed and the rest were dropped. 408 is HTTP's "the client did not
# keep up"; reconnect with backoff (and fetch what was missed, if the app keeps history).
TOO_SLOW = (4408, "too_slow")
# The server cannot serve the socket for now (Redis unreachable): reconnect later, with backoff.
TRY_AGAIN_LATER = (1013, "try_again_later")
# Removed from the room (or the room became private): stop; do not rejoin that room.
NOT_A_MEMBER = (4403, "not_a_member")
# The socket kept sending past the rate limit (realtime.limits): reconnect later, with backoff.
RATE_LIMITED = (4429, "rate_limited")
# The user has WS_MAX_CONNECTIONS_PER_USER sockets open already: close one, or retry later.
TOO_MANY_CONNECTIONS = (4429, "too_many_connections")
# A frame over WS_MAX_FRAME_BYTES, where the server itself did not refuse it (RFC 6455's code).
MESSAGE_TOO_BIG = (1009, "message_too_big")
# The handshake's history or presence parameters were malformed (an `error` frame says which):
# fix the request; reconnecting with the same one gets the same answer.
BAD_REQUEST = (4400, "bad_request")
