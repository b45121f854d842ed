"""Sign-in sessions, and the one check every credential passes: its user, its password, its session.

`POST /api/token/` starts a `users.models.Session` and puts its id in the refresh token's `sid`
claim; simplejwt copies it into every access token made from that refresh token, and a rotated
refresh token keeps it. Logging out ends the session (`ended_at`), logging out everywhere ends
all of the user's; CHECK_REVOKE_TOKEN puts a hash of the stored password hash in every token
(simplejwt's `hash_password` claim), so changing the password revokes every token issued before.

`check_user` is that check, in one database query (the session joined with its user, or the user
alone for a token of no session): SessionJWTAuthentication uses it for the REST API, the ticket
endpoint, the handshake in the JWT modes and in-band refresh; ticket redemption (realtime.tickets)
and token refresh (RefreshSerializer) use it too. So a revocation is a row in the database that
every process reads on its next lookup, at most realtime.recent_answers.MAX_AGE (1 s) after it
commits, with no query or round trip added to a handshake; a revocation set pushed to each process
over the channel layer would be simpler to read but is missed by any process that is (re)connecting
to Redis when it is sent, and is empty in a process started later.

Tokens minted by code without `sid` (`AccessToken.for_user`, `RefreshToken.for_user`) belong to
no session: logging out does not revoke them (logging out everywhere closes their sockets, but
they may connect again); they stop working on a password change, deactivation, deletion or at
expiry. Give clients only tokens from `POST /api/token/`, or from `SignInSerializer.get_token`.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.utils import timezone
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.serializers import (
    TokenBlacklistSerializer,
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
)
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from realtime.recent_answers import recent_answers
from users.models import Session

# The claim naming a token's session (OpenID Connect's name for it).
SESSION_CLAIM = "sid"


def revoke_claim_of(user) -> str | None:
    """The value CHECK_REVOKE_TOKEN expects in a token of `user` now (None when it is off)."""
    if not api_settings.CHECK_REVOKE_TOKEN:
        return None
    return get_md5_hash_password(user.password)


def check_user(user_id, session_id=None, revoke_claim=None):
    """The user of a credential with these claims, if it still stands; else AuthenticationFailed.

    It stands while the user exists and may authenticate (USER_AUTHENTICATION_RULE), the
    password is the one the credential was issued under (CHECK_REVOKE_TOKEN), and its session,
    if it has one, has not ended. One query: the user, or the session with its user.
    """
    session = None
    try:
        if session_id is None:
            users = get_user_model()._default_manager
            user = users.filter(**{api_settings.USER_ID_FIELD: user_id}).get()
        else:
            # The session with its user: one query, and cheaper to build than a subquery.
            owner = {f"user__{api_settings.USER_ID_FIELD}": user_id}
            session = Session.objects.select_related("user").filter(pk=session_id, **owner).get()
            user = session.user
    except (ObjectDoesNotExist, ValueError, ValidationError):  # also ids of the wrong shape
        raise AuthenticationFailed("User not found", code="user_not_found") from None
    if not api_settings.USER_AUTHENTICATION_RULE(user):
        raise AuthenticationFailed("User is inactive", code="user_inactive")
    if api_settings.CHECK_REVOKE_TOKEN and revoke_claim != revoke_claim_of(user):
        raise AuthenticationFailed("The user's password has been changed.", "password_changed")
    if session is not None and session.ended_at is not None:
        raise AuthenticationFailed("This session has ended.", code="session_ended")
    return user


def check_token_user(token):
    """check_user for a validated simplejwt token."""
    try:
        user_id = token[api_settings.USER_ID_CLAIM]
    except KeyError as error:
        raise InvalidToken("Token contained no recognizable user identification") from error
    return check_user(user_id, token.get(SESSION_CLAIM), token.get(api_settings.REVOKE_TOKEN_CLAIM))


class SessionJWTAuthentication(JWTAuthentication):
    """simplejwt's JWTAuthentication whose user lookup is check_user: an access token of an
    ended session, or issued before a password change, is refused like one of a deleted user."""

    def get_user(self, validated_token):
        return check_token_user(validated_token)


class SignInSerializer(TokenObtainPairSerializer):
    """`POST /api/token/` (SIMPLE_JWT's TOKEN_OBTAIN_SERIALIZER): every sign-in is a new session."""

    @classmethod
    def get_token(cls, user):
        token = super().get_token(user)
        token[SESSION_CLAIM] = str(Session.objects.create(user=user).pk)
        return token


class RefreshSerializer(TokenRefreshSerializer):
    """`POST /api/token/refresh/` (SIMPLE_JWT's TOKEN_REFRESH_SERIALIZER): simplejwt's refresh,
    for a refresh token that passes check_user (simplejwt checks neither the session nor the
    password claim on refresh, and answers a deleted user's token with a 500)."""

    def validate(self, attrs):
        check_token_user(self.token_class(attrs["refresh"]))
        return super().validate(attrs)


class LogoutSerializer(TokenBlacklistSerializer):
    """`POST /api/logout/` (SIMPLE_JWT's TOKEN_BLACKLIST_SERIALIZER): blacklist the refresh
    token, and end its session."""

    def validate(self, attrs):
        data = super().validate(attrs)
        session_id = RefreshToken(attrs["refresh"], verify=False).get(SESSION_CLAIM)
        if session_id is not None:
            end_sessions(Session.objects.filter(pk=session_id))
        return data


class LogoutEverywhereSerializer(serializers.Serializer):
    """`POST /api/logout/all/`: a refresh token that passes check_user ends every session of
    its user and blacklists every refresh token of theirs. The user's id goes in `user_id`."""

    refresh = serializers.CharField(write_only=True)

    def validate(self, attrs):
        user = check_token_user(RefreshToken(attrs["refresh"]))
        end_sessions(Session.objects.filter(user=user))
        outstanding = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
        BlacklistedToken.objects.bulk_create(
            [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
        )
        return {"user_id": user.pk}


def end_sessions(sessions) -> None:
    """End these sessions now; this process forgets its answers about credentials at once."""
    sessions.filter(ended_at__isnull=True).update(ended_at=timezone.now())
    recent_answers.clear()
