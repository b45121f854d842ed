"""Access-JWT checks shared by the handshake (query_jwt mode) and by in-band refresh on open
sockets (every mode).

simplejwt's own JWTAuthentication does the work, so SIMPLE_JWT (key, algorithm, audience, issuer,
leeway, AUTH_TOKEN_CLASSES) applies exactly as on the REST API, and only access tokens pass.
Its user lookup (get_user: the user exists and is active, CHECK_REVOKE_TOKEN...) needs the
database; its answer for a token is reused for up to a second (realtime.users).
"""

from channels.db import database_sync_to_async
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from realtime.handshake import Authentication
from realtime.users import recent_answers

# Far above any token simplejwt issues; anything longer is refused without decoding it.
MAX_TOKEN_LENGTH = 4096

jwt_authentication = JWTAuthentication()


async def authenticate_access_token(raw_token: str) -> Authentication | None:
    """The active user of a valid access token, with the token's expiry; None for anything else."""
    if not isinstance(raw_token, str) or len(raw_token) > MAX_TOKEN_LENGTH:
        return None
    try:
        # Signature and claims only: no I/O, so it runs on the event loop.
        validated_token = jwt_authentication.get_validated_token(raw_token)
    except InvalidToken:
        return None
    # The answer depends on the token and the database only: keyed by the token itself.
    user = await recent_answers.get(
        ("access token", raw_token), lambda: get_active_user(validated_token)
    )
    if user is None:
        return None
    return Authentication(user=user, expires_at=validated_token["exp"])


@database_sync_to_async
def get_active_user(validated_token):
    """The token's user if it still exists and is active (simplejwt's own rules), else None."""
    try:
        return jwt_authentication.get_user(validated_token)
    except (InvalidToken, AuthenticationFailed):
        return None
