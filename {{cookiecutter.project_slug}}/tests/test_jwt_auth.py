"""The modes whose credential is the access JWT itself (query_jwt, subprotocol): only a valid access
token of an active user opens a socket, wherever this mode carries it (tests.credentials)."""

import time
from unittest.mock import Mock

import jwt
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken

from realtime import access_tokens
from realtime.access_tokens import MAX_TOKEN_LENGTH
from tests.credentials import ws_credentials_for
from tests.handshakes import assert_refused


def signed_token(user, *, drop=(), key=None, algorithm="HS256", **claims):
    """An access token for `user` built by hand, so that each claim can be bent one at a time."""
    payload = {
        **AccessToken.for_user(user).payload,
        "aud": settings.SIMPLE_JWT["AUDIENCE"],
        "iss": settings.SIMPLE_JWT["ISSUER"],
        **claims,
    }
    for claim in drop:
        del payload[claim]
    return jwt.encode(payload, key or settings.SIMPLE_JWT["SIGNING_KEY"], algorithm=algorithm)


async def test_access_token_connects_as_its_user(communicator, user, access_token):
    access = access_token(user)
    comm = communicator(**await ws_credentials_for(access))

    connected, _ = await comm.connect()

    assert connected
    await comm.send_json_to({"message": "hi"})
    assert (await comm.receive_json_from())["user"] == "alice"


async def test_hand_built_token_connects_when_nothing_is_bent(communicator, user):
    # The control for the forgeries below: signed_token() alone makes an acceptable token.
    connected, _ = await communicator(**await ws_credentials_for(signed_token(user))).connect()
    assert connected


@pytest.mark.parametrize(
    "bend",
    [
        pytest.param({"key": "another-key-of-a-decent-length-0123456789"}, id="wrong-key"),
        pytest.param({"algorithm": "HS512"}, id="hs512-with-the-same-secret"),
        pytest.param({"exp": int(time.time()) - 1}, id="expired"),
        pytest.param({"nbf": int(time.time()) + 3600}, id="not-yet-valid"),
        pytest.param({"drop": ["exp"]}, id="no-exp"),
        pytest.param({"drop": ["jti"]}, id="no-jti"),
        pytest.param({"drop": ["token_type"]}, id="no-token-type"),
        pytest.param({"token_type": "refresh"}, id="token-type-refresh"),
        pytest.param({"aud": "someone-else"}, id="foreign-audience"),
        pytest.param({"iss": "someone-else"}, id="foreign-issuer"),
        pytest.param({"drop": ["user_id"]}, id="no-user"),
    ],
)
async def test_bent_token_is_refused(communicator, user, bend):
    await assert_refused(communicator(**await ws_credentials_for(signed_token(user, **bend))))


async def test_unsigned_token_is_refused(communicator, user):
    payload = AccessToken.for_user(user).payload
    unsigned = jwt.encode(payload, None, algorithm="none")
    await assert_refused(communicator(**await ws_credentials_for(unsigned)))


async def test_refresh_token_is_refused(communicator, user, tokens):
    _, refresh = await sync_to_async(tokens)(user)
    await assert_refused(communicator(**await ws_credentials_for(refresh)))


async def test_token_of_inactive_user_is_refused(communicator, user, access_token):
    access = access_token(user)
    user.is_active = False
    await sync_to_async(user.save)()
    await assert_refused(communicator(**await ws_credentials_for(access)))


async def test_token_of_deleted_user_is_refused(communicator, user, access_token):
    access = access_token(user)
    await sync_to_async(user.delete)()
    await assert_refused(communicator(**await ws_credentials_for(access)))


async def test_overlong_token_is_refused_without_decoding(communicator, user, monkeypatch):
    decode = Mock(side_effect=AssertionError("decoded"))
    monkeypatch.setattr(access_tokens.jwt_authentication, "get_validated_token", decode)

    await assert_refused(communicator(**await ws_credentials_for("A" * (MAX_TOKEN_LENGTH + 1))))
    assert decode.mock_calls == []
