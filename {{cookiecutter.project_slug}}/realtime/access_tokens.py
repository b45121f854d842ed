"""Access-JWT checks shared by the handshake (query_jwt and subprotocol modes) and by in-band
refresh on open sockets (every mode).

The REST API's authentication class does the work (realtime.sign_ins.SessionJWTAuthentication,
simplejwt's JWTAuthentication), so SIMPLE_JWT (key, algorithm, audience, issuer, leeway,
AUTH_TOKEN_CLASSES) applies exactly as on the REST API, and only access tokens pass. Its user
lookup (the user exists and is active, the password claim matches, the session has not ended)
is one database query. A token's whole answer is reused for up to a second
(realtime.recent_answers): a client that reconnects with the same token is neither decoded nor
looked up again, but an expired token is refused at once.
"""

import time
from datetime import timedelta

from channels.db import database_sync_to_async
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt import settings as simplejwt_settings
from rest_framework_simplejwt.exceptions import InvalidToken

from realtime.credentials import Authentication
from realtime.recent_answers import recent_answers
from realtime.sign_ins import SESSION_CLAIM, SessionJWTAuthentication

# Far above any token simplejwt issues; anything longer is refused without decoding it.
MAX_TOKEN_LENGTH = 4096

jwt_authentication = SessionJWTAuthentication()


async def authenticate_access_token(raw_token: str) -> Authentication | None:
    """The active user of a valid access token, with the token's expiry; None for anything else."""
    if not isinstance(raw_token, str) or len(raw_token) > MAX_TOKEN_LENGTH:
        return None
    # The answer depends on the token, the database and the clock only: keyed by the token.
    key = ("access token", raw_token)
    auth = recent_answers.recent(key)
    if auth is None:
        try:
            # Signature and claims only: no I/O, so it runs on the event loop.
            validated_token = jwt_authentication.get_validated_token(raw_token)
        except InvalidToken:
            return None  # not remembered: junk tokens cannot crowd out the valid ones
        auth = await recent_answers.get(key, lambda: active_user_of(validated_token))
    # A remembered answer outlives its token by up to a second unless checked here.
    if auth is None or has_expired(auth.expires_at):
        return None
    return auth


@database_sync_to_async
def active_user_of(validated_token) -> Authentication | None:
    """The token's user if its credential still stands (realtime.sign_ins.check_user), else None."""
    try:
        user = jwt_authentication.get_user(validated_token)
    except (InvalidToken, AuthenticationFailed):
        return None
    return Authentication(
        user=user, expires_at=validated_token["exp"], session_id=validated_token.get(SESSION_CLAIM)
    )


def has_expired(expires_at: int | None) -> bool:
    """Whether a token with this `exp` is expired now, as simplejwt decides (LEEWAY included)."""
    return expires_at is not None and expires_at <= time.time() - leeway_seconds()


def leeway_seconds() -> float:
    """SIMPLE_JWT's LEEWAY in seconds (it may be a number or a timedelta)."""
    # Looked up each time: simplejwt replaces its api_settings object when SIMPLE_JWT changes.
    leeway = simplejwt_settings.api_settings.LEEWAY
    return leeway.total_seconds() if isinstance(leeway, timedelta) else float(leeway or 0)
