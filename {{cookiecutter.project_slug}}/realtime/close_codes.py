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
