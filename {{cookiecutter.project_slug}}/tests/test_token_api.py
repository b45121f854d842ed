"""The JWT endpoints: username and password for a token pair; a refresh token for a new access."""

from rest_framework_simplejwt.tokens import AccessToken

from tests.users import PASSWORD


def test_token_pair_for_valid_credentials(api_client, user):
    response = api_client.post(
        "/api/token/", {"username": "alice", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    assert AccessToken(response.json()["access"])["user_id"] == str(user.pk)


def test_wrong_password_gets_401(api_client, user):
    response = api_client.post(
        "/api/token/", {"username": "alice", "password": "wrong"}, format="json"
    )

    assert response.status_code == 401
    assert "access" not in response.json()


def test_refresh_gives_a_new_access_token(api_client, user, tokens):
    _, refresh = tokens(user)

    response = api_client.post("/api/token/refresh/", {"refresh": refresh}, format="json")

    assert response.status_code == 200
    assert AccessToken(response.json()["access"])["user_id"] == str(user.pk)


def test_access_token_cannot_refresh(api_client, user, tokens):
    access, _ = tokens(user)

    response = api_client.post("/api/token/refresh/", {"refresh": access}, format="json")

    assert response.status_code == 401
