"""Keep only the files the chosen answers use, write a development .env, print the next steps.

Offline and free of side effects outside the new project directory.
"""

import os
import secrets
from pathlib import Path

AUTH_MODE = "{{ cookiecutter.auth_mode }}"
SLUG = "{{ cookiecutter.project_slug }}"
DEMO_PAGE = "{{ cookiecutter.demo_page }}" == "True"

# Files that some modes use and others do not: removed unless the chosen mode is among its modes.
JWT_MODES = ("query_jwt", "subprotocol")  # the modes whose credential is the access JWT itself
MODE_FILES = {
    "realtime/ticket_checks.py": ("ticket",),
    "realtime/tickets.py": ("ticket",),
    "realtime/ticket_endpoint.py": ("ticket",),
    "realtime/ticket_schema.py": ("ticket",),
    "tests/test_ticket_auth.py": ("ticket",),
    "tests/test_ticket_checks.py": ("ticket",),
    "tests/test_ticket_endpoint.py": ("ticket",),
    "tests/test_ticket_ttl_check.py": ("ticket",),
    "tests/test_ticket_redis_outages.py": ("ticket",),
    "tests/test_ticket_revocation.py": ("ticket",),
    "tests/ticket_credentials.py": ("ticket",),
    "tests/test_jwt_auth.py": JWT_MODES,
    "tests/test_query_jwt_auth.py": ("query_jwt",),
    "tests/test_subprotocol_auth.py": ("subprotocol",),
    "tests/query_jwt_credentials.py": ("query_jwt",),
    "tests/subprotocol_credentials.py": ("subprotocol",),
}


# The demo page and its browser test (prompt demo_page), removed when it was declined.
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


def remove(project: Path, path: str) -> None:
    """Delete a file, and the directories that it leaves empty."""
    (project / path).unlink()
    for directory in (project / path).parents:
        if directory == project or any(directory.iterdir()):
            break
        directory.rmdir()


def prune(project: Path) -> None:
    for path, modes in MODE_FILES.items():
        if AUTH_MODE not in modes:
            remove(project, path)
    if not DEMO_PAGE:
        for path in DEMO_FILES:
            remove(project, path)


def write_dev_env(project: Path) -> None:
    """A git-ignored .env for local development: DEBUG on, a fresh secret key; readable by its
    owner only (mode 0600), as it holds the key."""
    example = (project / ".env.example").read_text()
    key = secrets.token_urlsafe(50)
    dev = example.replace("# DJANGO_DEBUG=on", "DJANGO_DEBUG=on").replace(
        "# DJANGO_SECRET_KEY=", f"DJANGO_SECRET_KEY={key}"
    )
    path = project / ".env"
    # Created 0600, so the key is never readable by others, even for a moment; chmod for a .env
    # that a forced re-bake (-f) finds already there.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(dev)
    path.chmod(0o600)


def main() -> None:
    project = Path.cwd()
    prune(project)
    write_dev_env(project)
    demo = (
        "\nDemo page: create a user (uv run manage.py createsuperuser), run the server, and open\n"
        "http://127.0.0.1:8000/ to sign in and chat.\n"
        if DEMO_PAGE
        else ""
    )
    print(
        f"""
Created {SLUG}/ (WebSocket auth: {AUTH_MODE}).

Next steps:
    cd {SLUG}
    uv run manage.py migrate && uv run manage.py runserver   # http://127.0.0.1:8000/
    uv run pytest                                            # the project's own tests
{demo}
No uv yet? https://docs.astral.sh/uv/ (or: pip install uv).
"""
    )


if __name__ == "__main__":
    main()
