"""Every variant bakes into a clean, lint-free project holding exactly its mode's files."""

import os
import re
import shutil
import subprocess
import sys
import tomllib

import yaml

from tests.conftest import TEMPLATE_DIR, VARIANTS

UV = os.environ.get("UV") or shutil.which("uv") or "uv"
UNRENDERED = re.compile(r"\{\{\s*cookiecutter\.|\{%[^%]*cookiecutter")

MODE_FILES = {
    "ticket": [
        "realtime/ticket_checks.py",
        "realtime/ticket_endpoint.py",
        "realtime/ticket_schema.py",
        "realtime/tickets.py",
        "tests/test_ticket_auth.py",
        "tests/test_ticket_checks.py",
        "tests/test_ticket_endpoint.py",
        "tests/test_ticket_ttl_check.py",
        "tests/test_ticket_redis_outages.py",
        "tests/test_ticket_revocation.py",
        "tests/ticket_credentials.py",
    ],
    "query_jwt": [
        "tests/query_jwt_credentials.py",
        "tests/test_jwt_auth.py",
        "tests/test_query_jwt_auth.py",
    ],
    "subprotocol": [
        "tests/subprotocol_credentials.py",
        "tests/test_jwt_auth.py",
        "tests/test_subprotocol_auth.py",
    ],
}
# The demo page (prompt demo_page, on by default) and its browser test.
DEMO_FILES = [
    "realtime/demo_urls.py",
    "realtime/static/realtime/client.js",
    "realtime/static/realtime/demo.js",
    "realtime/templates/realtime/demo.html",
    "tests/test_demo_page.py",
    "tests/test_demo_page_retries.py",
    "tests/test_demo_page_token_refresh.py",
    "tests/test_client_close_codes.py",
    "tests/demo_page.py",
    "tests/test_client_types.py",
    "tests/deployment_demo_page.py",
    "tests/client_usage.ts",
    "tsconfig.json",
]
# Copied as they are: Django template tags and JavaScript are not cookiecutter's to render.
UNRENDERED_FILES = [
    "realtime/static/realtime/client.js",
    "realtime/static/realtime/demo.js",
    "realtime/templates/realtime/demo.html",
]
COMMON_FILES = [
    "manage.py",
    "pyproject.toml",
    ".env.example",
    ".env",
    ".gitignore",
    ".pre-commit-config.yaml",
    ".editorconfig",
    ".gitattributes",
    "README.md",
    "config/settings.py",
    "config/urls.py",
    "config/asgi.py",
    "realtime/access_tokens.py",
    "realtime/api_schema.py",
    "realtime/apps.py",
    "realtime/authentication.py",
    "realtime/channelsmiddleware.py",
    "realtime/close_codes.py",
    "realtime/consumers.py",
    "realtime/dispatch.py",
    "realtime/layers.py",
    "realtime/log_redaction.py",
    "realtime/origins.py",
    "realtime/recent_answers.py",
    "realtime/redis_client.py",
    "realtime/limits.py",
    "realtime/permissions.py",
    "realtime/models.py",
    "realtime/admin.py",
    "realtime/migrations/0001_initial.py",
    "realtime/redis_outages.py",
    "realtime/revocation.py",
    "realtime/routing.py",
    "realtime/signals.py",
    "realtime/views.py",
    "users/admin.py",
    "users/apps.py",
    "users/migrations/0001_initial.py",
    "users/models.py",
    "tests/test_users.py",
    "tests/communicators.py",
    "tests/handshakes.py",
    "tests/redis_isolation.py",
    "tests/required_services.py",
    "tests/users.py",
    "tests/test_redis_client.py",
    "tests/test_room_permissions.py",
    "tests/test_limits.py",
    "tests/test_presence_across_processes.py",
    "tests/test_presence_ttl_check.py",
    "tests/test_layer_deadlines.py",
    "tests/test_session_expiry.py",
    "tests/live_server_settings.py",
    "tests/test_api_schema.py",
    "tests/conftest.py",
    "tests/credentials.py",
    "realtime/health.py",
    "realtime/metrics.py",
    "tests/test_health.py",
    "tests/test_metrics.py",
    "tests/test_deployment.py",
    "realtime/management/commands/runserver.py",
    "Dockerfile",
    ".dockerignore",
    "compose.yaml",
    "deploy/nginx.conf",
    "deploy/gunicorn.conf.py",
    ".github/workflows/ci.yml",
    ".github/dependabot.yml",
    "uv.lock",
]


def text_files(project):
    for path in project.rglob("*"):
        if path.is_file() and ".venv" not in path.parts and "__pycache__" not in path.parts:
            yield path


def test_mode_files_are_present_and_others_absent(project, variant):
    mode = VARIANTS[variant]["auth_mode"]
    present = {str(p.relative_to(project)) for p in text_files(project)}

    assert set(COMMON_FILES) <= present
    assert set(MODE_FILES[mode]) <= present
    others = set().union(*MODE_FILES.values()) - set(MODE_FILES[mode])
    assert not others & present


def test_demo_files_are_present_only_when_asked_for(project, variant):
    present = {str(p.relative_to(project)) for p in text_files(project)}
    dev_dependencies = tomllib.loads((project / "pyproject.toml").read_text())["dependency-groups"]

    if VARIANTS[variant].get("demo_page", True):
        assert set(DEMO_FILES) <= present
        assert any(dep.startswith("playwright") for dep in dev_dependencies["dev"])
        for path in UNRENDERED_FILES:
            source = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / path
            assert (project / path).read_bytes() == source.read_bytes(), path
    else:
        assert not set(DEMO_FILES) & present
        assert not (project / "realtime" / "static").exists()
        assert not (project / "realtime" / "templates").exists()
        assert not any(dep.startswith("playwright") for dep in dev_dependencies["dev"])
        assert "demo" not in (project / "config" / "urls.py").read_text()


def test_no_template_syntax_survives(project):
    leftovers = [
        f"{path.relative_to(project)}: {match.group(0)}"
        for path in text_files(project)
        for match in [UNRENDERED.search(path.read_text())]
        if match
    ]
    assert leftovers == []


def test_ruff_check_passes(project):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean(project):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pyproject_is_valid_and_carries_the_answers(project, variant):
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    answers = VARIANTS[variant]
    assert pyproject["project"]["name"] == project.name
    if "description" in answers:
        assert pyproject["project"]["description"] == answers["description"]
        assert pyproject["project"]["authors"][0]["name"] == answers["author_name"]


def test_lock_is_current(project, variant):
    """The shipped uv.lock is the lock of the project's own pyproject.toml, as rendered for these
    answers (its name, the demo page's dev dependencies): `uv lock --check` needs no change, and
    no package index (--offline), as a bake must not. When it fails: uv run scripts/lock.py."""
    result = subprocess.run(
        [UV, "lock", "--check", "--offline"],
        cwd=project,
        env={key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    locked = tomllib.loads((project / "uv.lock").read_text())["package"]
    demo_page = VARIANTS[variant].get("demo_page", True)
    assert any(package["name"] == "playwright" for package in locked) == demo_page


def test_pre_commit_hooks_run_offline(project):
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    assert config["repos"]
    assert all(repo["repo"] == "local" for repo in config["repos"])
    hook_ids = {hook["id"] for repo in config["repos"] for hook in repo["hooks"]}
    assert {
        "ruff-check",
        "ruff-format",
        "django-upgrade",
        "makemigrations",
        "check-toml",
        "check-yaml",
        "detect-private-key",
    } <= hook_ids
    # Each hook's tool is in the dev dependency group, run with `uv run`.
    dev = tomllib.loads((project / "pyproject.toml").read_text())["dependency-groups"]["dev"]
    assert any(dep.startswith("pre-commit-hooks") for dep in dev)
    assert any(dep.startswith("django-upgrade") for dep in dev)


def test_dev_env_file_has_debug_and_a_fresh_secret(project):
    env = dict(
        line.split("=", 1)
        for line in (project / ".env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert env["DJANGO_DEBUG"] == "on"
    assert len(env["DJANGO_SECRET_KEY"]) >= 50
    assert ".env" in (project / ".gitignore").read_text().splitlines()
