"""The OpenAPI schema (drf-spectacular) validates, and describes every endpoint's bodies, status
codes and Retry-After headers; it is served with DEBUG on only."""

import importlib

import pytest
import yaml
from django.core.management import call_command
from django.test import override_settings
from django.urls import clear_url_caches
from drf_spectacular.generators import SchemaGenerator

# Each endpoint's status codes, as the views answer them.
EXPECTED = {
    "/api/token/": {"200", "400", "401", "429"},
    "/api/token/refresh/": {"200", "400", "401", "429"},
    "/api/logout/": {"200", "400", "401", "503"},
    "/api/logout/all/": {"200", "400", "401", "503"},
{%- if cookiecutter.auth_mode == "ticket" %}
    "/api/ws-ticket/": {"201", "401", "405", "413", "429", "503"},
{%- endif %}
}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_schema_validates_without_warnings(tmp_path):
    # --fail-on-warn: a view drf-spectacular cannot read fails here, not in a client's generator.
    path = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    assert yaml.safe_load(path.read_text())["openapi"].startswith("3.")


def test_every_endpoint_with_its_status_codes(schema):
    assert set(schema["paths"]) == set(EXPECTED)
    for path, statuses in EXPECTED.items():
        assert set(schema["paths"][path]) == {"post"}, path
        assert set(schema["paths"][path]["post"]["responses"]) == statuses, path


def body(schema, path, status):
    content = schema["paths"][path]["post"]["responses"][status]["content"]
    reference = content["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][reference.rsplit("/", 1)[1]]


def test_token_bodies(schema):
    sign_in = schema["paths"]["/api/token/"]["post"]["requestBody"]["content"]["application/json"]
    request = schema["components"]["schemas"][sign_in["schema"]["$ref"].rsplit("/", 1)[1]]
    assert {"username", "password"} <= set(request["required"])
    for path in ("/api/token/", "/api/token/refresh/"):
        assert {"access", "refresh"} <= set(body(schema, path, "200")["properties"]), path


def test_throttled_and_unavailable_answers_carry_retry_after(schema):
    for path, statuses in EXPECTED.items():
        responses = schema["paths"][path]["post"]["responses"]
        for status in statuses & {"429", "503"}:
            assert "Retry-After" in responses[status]["headers"], (path, status)
            assert "detail" in body(schema, path, status)["properties"], (path, status)


def test_logout_names_sockets_not_closed(schema):
    code = body(schema, "/api/logout/", "503")["properties"]["code"]
    enum = schema["components"]["schemas"][code["$ref"].rsplit("/", 1)[1]]["enum"]
    assert enum == ["sockets_not_closed"]
{%- if cookiecutter.auth_mode == "ticket" %}


def test_ticket_endpoint_is_described(schema):
    operation = schema["paths"]["/api/ws-ticket/"]["post"]
    assert "requestBody" not in operation
    assert {"ticket", "expires_in"} <= set(body(schema, "/api/ws-ticket/", "201")["properties"])
    assert operation["security"] == [{"jwtAuth": []}]
{%- endif %}


def reloaded_urls():
    clear_url_caches()
    return importlib.reload(importlib.import_module("config.urls"))


@pytest.fixture
def urls_with_debug():
    with override_settings(DEBUG=True):
        yield reloaded_urls()
    reloaded_urls()


def test_schema_is_served_with_debug_on(client, urls_with_debug):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert set(response.json()["paths"]) == set(EXPECTED)


def test_schema_is_not_served_with_debug_off(client):
    assert client.get("/api/schema/").status_code == 404
