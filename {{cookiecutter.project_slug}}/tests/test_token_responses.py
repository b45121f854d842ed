"""Token responses are never stored by a cache, and a refresh token works once: each refresh
returns a new one and blacklists the one sent (SIMPLE_JWT ROTATE_REFRESH_TOKENS,
BLACKLIST_AFTER_ROTATION)."""

from tests.users import PASSWORD


def test_token_refresh_and_logout_responses_are_not_stored(api_client, user):
    signed_in = api_client.post(
        "/api/token/", {"username": "alice", "password": PASSWORD}, format="json"
    )
    refresh = signed_in.json()["refresh"]
    refreshed = api_client.post("/api/token/refresh/", {"refresh": refresh}, format="json")
    logged_out = api_client.post(
        "/api/logout/", {"refresh": refreshed.json()["refresh"]}, format="json"
    )
    refused = api_client.post(
        "/api/token/", {"username": "alice", "password": "wrong"}, format="json"
    )

    responses = [signed_in, refreshed, logged_out, refused]
    assert [response.status_code for response in responses] == [200, 200, 200, 401]
    assert all(response["Cache-Control"] == "no-store" for response in responses)


def test_a_refresh_token_is_refused_once_it_has_been_rotated(api_client, user, tokens):
    _, refresh = tokens(user)

    first = api_client.post("/api/token/refresh/", {"refresh": refresh}, format="json")
    replayed = api_client.post("/api/token/refresh/", {"refresh": refresh}, format="json")
    rotated = api_client.post(
        "/api/token/refresh/", {"refresh": first.json()["refresh"]}, format="json"
    )

    assert first.status_code == 200
    assert first.json()["refresh"] != refresh
    assert replayed.status_code == 401
    assert rotated.status_code == 200
