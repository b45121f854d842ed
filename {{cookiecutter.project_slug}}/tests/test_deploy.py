"""`manage.py check --deploy` in a production environment warns only about what README explains."""

import os
import re
import secrets
import subprocess
import sys

import pytest

from tests.live_server import PROJECT_DIR

# Each of these is explained in README.md, "Deployment checklist".
EXPECTED_BY_DEFAULT = {"security.W004"}  # HSTS is opt-in
FULL_HSTS = {
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "on",
    "DJANGO_SECURE_HSTS_PRELOAD": "on",
}
CHECK_ID = re.compile(r"\(([a-z_]+\.[CDEIW]\d{3})\)")


def check_deploy(**env):
    """The ids `check --deploy` reports with a production environment plus `env` (and no .env)."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "REDIS_", "DATABASE_", "JWT_", "WS_"))
    }
    clean.update(
        DJANGO_ENV_FILE="",
        DJANGO_DEBUG="off",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="chat.example.com",
        REDIS_URL="redis://127.0.0.1:6379/0",  # not contacted by the checks
        **env,
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=PROJECT_DIR,
        env=clean,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return set(CHECK_ID.findall(result.stdout + result.stderr))


@pytest.mark.parametrize(
    ("env", "expected"), [({}, EXPECTED_BY_DEFAULT), (FULL_HSTS, set())], ids=["default", "hsts"]
)
def test_check_deploy_reports_only_the_expected_warnings(env, expected):
    assert check_deploy(**env) == expected


def test_readme_explains_every_expected_warning():
    readme = (PROJECT_DIR / "README.md").read_text()
    checklist = readme.split("## Deployment checklist", 1)[1].split("\n## ", 1)[0]
    assert all(f"`{check_id}`" in checklist for check_id in EXPECTED_BY_DEFAULT)
