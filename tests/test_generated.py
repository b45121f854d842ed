"""Each variant's own test suite, installed with uv into the baked project and run for real.

First on the embedded defaults (SQLite, in-memory layer, local-memory cache: what a newcomer has),
then against Redis and PostgreSQL when REDIS_URL and DATABASE_URL are set. With REQUIRE_SERVICES=1
(as in CI) missing services fail these tests instead of skipping them, and so do the project's own
Redis tests.
"""

import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import AUTH_MODES, TEMPLATE_DIR, VARIANTS, services_required

# Variables of the developer's shell that would change what a baked project's suite sees.
PROJECT_VARIABLES = (
    "DJANGO_",
    "DATABASE_URL",
    "REDIS_",
    "JWT_",
    "WS_",
    "REQUIRE_SERVICES",
    "VIRTUAL_ENV",
)
UV = os.environ.get("UV") or shutil.which("uv") or "uv"


# PYTHONDONTWRITEBYTECODE (set in this project's machines' environment) would make each of the ~30
# Python processes that a suite or the benchmark starts (servers, manage.py) compile Django and the
# rest from source again: ~1.5 s of CPU each. The bytecode goes into the throwaway bake.
NOT_PASSED_ON = ("PYTHONDONTWRITEBYTECODE",)


def project_env(**extra):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(PROJECT_VARIABLES) and k not in NOT_PASSED_ON
    }
    env.update(extra)
    return env


# The oldest Python the project supports, which resolves Django 5.2 (LTS); the newest-Python run
# below resolves Django 6.1 from the same pyproject.toml.
OLDEST_PYTHON = "3.11"


def uv_sync(project, python=OLDEST_PYTHON):
    """Install the project as its README, CI and Dockerfile do: exactly its uv.lock (--locked
    fails instead of re-locking a lock that does not match pyproject.toml)."""
    result = subprocess.run(
        [UV, "sync", "--locked", "--quiet", "--python", python],
        cwd=project,
        env=project_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


# Each baked suite runs its tests on pytest-xdist workers of its own; this template runs two
# suites at a time (pyproject.toml): two workers each, four test processes on a 2-core machine.
SUITE_WORKERS = "2"


def python_and_django(project):
    """(Python's major.minor, Django's major.minor) in the project's environment."""
    result = subprocess.run(
        [
            UV,
            "run",
            "--no-sync",
            "python",
            "-c",
            "import sys, django; print(*sys.version_info[:2], *django.VERSION[:2])",
        ],
        cwd=project,
        env=project_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    major, minor, django_major, django_minor = map(int, result.stdout.split())
    return (major, minor), (django_major, django_minor)


def classified_python_minors():
    """The Python 3 minor versions the baked pyproject.toml's trove classifiers name, newest
    first."""
    text = (TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "pyproject.toml").read_text()
    minors = re.findall(r'"Programming Language :: Python :: 3\.(\d+)"', text)
    return sorted(map(int, minors), reverse=True)


def newest_python():
    """The path of the newest Python, 3.12 or later, among those the classifiers name (on PATH or
    among pyenv's versions), or None."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for minor in (minor for minor in classified_python_minors() if minor >= 12):
        candidates = [shutil.which(f"python3.{minor}")]
        candidates += sorted(pyenv_root.glob(f"versions/3.{minor}.*/bin/python3"), reverse=True)
        for candidate in filter(None, candidates):
            # pyenv's shims exist for every version it has, and fail for those not selected.
            probe = subprocess.run(
                [candidate, "-c", f"import sys; print(sys.version_info[:2] == (3, {minor}))"],
                capture_output=True,
                text=True,
            )
            if probe.returncode == 0 and probe.stdout.strip() == "True":
                return str(candidate)
    return None


# CI runs the tests that take real time too (--run-slow), on workers of each suite's own.
SUITE_OPTIONS = ["--run-slow", "-n", SUITE_WORKERS]


def run_suite(project, **env):
    result = subprocess.run(
        [UV, "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider", *SUITE_OPTIONS],
        cwd=project,
        env=project_env(**env),
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    summary = output.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary), summary
    return summary


@pytest.fixture
def synced_project(bake, variant):
    project = bake(variant, to_run=True)
    uv_sync(project)
    return project


def service_urls(variant):
    """REDIS_URL and DATABASE_URL for this variant's run, or skip/fail when they are not set."""
    redis_url = os.environ.get("REDIS_URL")
    database_url = os.environ.get("DATABASE_URL")
    if not (redis_url and database_url):
        message = "set REDIS_URL and DATABASE_URL to test against Redis and PostgreSQL"
        if services_required():
            pytest.fail(f"{message} (REQUIRE_SERVICES is set)")
        pytest.skip(message)
    # A database of its own per variant: pytest-django creates and drops test_<name>.
    parts = urlsplit(database_url)
    database_url = urlunsplit(parts._replace(path=f"/tpl_{variant.replace('-', '_')}"))
    return {"REDIS_URL": redis_url, "DATABASE_URL": database_url}


def test_suite_passes_on_embedded_defaults(synced_project):
    assert python_and_django(synced_project) == ((3, 11), (5, 2))
    summary = run_suite(synced_project)
    # Only the tests that need Redis may skip here.
    assert "failed" not in summary


def test_suite_passes_on_newest_python_and_django(bake, tmp_path):
    """One variant's whole suite on Python 3.12+ with Django 6.1, which uv resolves there from the
    same pyproject.toml (the other runs are on Python 3.11 with Django 5.2)."""
    python = newest_python()
    if python is None:
        message = "no Python 3.12 or newer that the classifiers name, on PATH or in pyenv"
        if newest_python_required():
            pytest.fail(f"{message} (REQUIRE_NEWEST_PYTHON is set)")
        pytest.skip(message)
    project = tmp_path / "project"
    shutil.copytree(bake("query_jwt"), project)
    uv_sync(project, python=python)
    (_, python_minor), django = python_and_django(project)
    assert python_minor >= 12
    assert django == (6, 1)
    summary = run_suite(project)
    assert "failed" not in summary


def newest_python_required() -> bool:
    return os.environ.get("REQUIRE_NEWEST_PYTHON", "") not in ("", "0")


@pytest.mark.parametrize("mode", AUTH_MODES)
def test_suite_passes_on_redis_and_postgresql(bake, mode):
    project = bake(mode, to_run=True)
    uv_sync(project)
    summary = run_suite(project, REQUIRE_SERVICES="1", **service_urls(mode))
    assert "skipped" not in summary


def test_pre_commit_hooks_pass_on_a_fresh_bake(synced_project):
    """Every hook of .pre-commit-config.yaml, run as a developer would in a new repository,
    offline: ruff, django-upgrade, migrations, TOML/YAML/JSON, conflict markers, private keys."""
    env = project_env()
    git = ["git", "-c", "init.defaultBranch=main"]
    for command in ([*git, "init", "-q"], [*git, "add", "-A"]):
        result = subprocess.run(command, cwd=synced_project, env=env, capture_output=True)
        assert result.returncode == 0, result.stderr
    result = subprocess.run(
        [UV, "run", "--no-sync", "pre-commit", "run", "--all-files", "--show-diff-on-failure"],
        cwd=synced_project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # These hooks ran on files (pre-commit says "Skipped" for a hook that found none: a bake
    # without the demo page has no JSON file).
    passed = [line for line in result.stdout.splitlines() if line.endswith("Passed")]
    for name in PRE_COMMIT_HOOKS_THAT_RUN:
        assert any(line.startswith(name) for line in passed), (name, result.stdout)


PRE_COMMIT_HOOKS_THAT_RUN = (
    "ruff check",
    "ruff format",
    "django-upgrade",
    "migrations are up to date",
    "TOML parses",
    "YAML parses",
    "no merge conflict markers",
    "no private keys",
)


def test_readme_quick_start_serves_on_an_empty_machine(synced_project, variant):
    """The README's first command, on a fresh bake: migrate, then runserver answers HTTP, and
    serves the demo page at `/` when the project has one (the generated .env turns DEBUG on)."""
    env = project_env()
    migrate = subprocess.run(
        [UV, "run", "--no-sync", "manage.py", "migrate"],
        cwd=synced_project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert migrate.returncode == 0, migrate.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [UV, "run", "--no-sync", "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=synced_project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        status = wait_for_http(f"http://127.0.0.1:{port}/api/token/", server)
        demo_status = wait_for_http(f"http://127.0.0.1:{port}/", server)
        script_status = wait_for_http(f"http://127.0.0.1:{port}/static/realtime/client.js", server)
    finally:
        server.terminate()
        server.wait(10)
    # GET on the token endpoint: the view is there and only takes POST.
    assert status == 405
    expected = 200 if VARIANTS[variant].get("demo_page", True) else 404
    assert (demo_status, script_status) == (expected, expected)


def wait_for_http(url, process, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode()
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url} within {timeout}s")
