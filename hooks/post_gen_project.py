"""Keep only the files the chosen auth mode uses, write a development .env, print the next steps.

Offline and free of side effects outside the new project directory.
"""

import secrets
import shutil
from pathlib import Path

AUTH_MODE = "{{ cookiecutter.auth_mode }}"
SLUG = "{{ cookiecutter.project_slug }}"
AUTH_MODES = ("ticket", "query_jwt")

# Files that exist in one mode only; each entry is removed unless its mode was chosen.
MODE_ONLY_FILES = {
    "ticket": [
        "realtime/checks.py",
        "realtime/tickets.py",
        "realtime/views.py",
        "tests/test_ticket_auth.py",
        "tests/test_ticket_checks.py",
        "tests/test_ticket_redis_faults.py",
    ],
    "query_jwt": [
        "tests/test_query_jwt_auth.py",
    ],
}

# Files that differ per mode as a whole: `<name>_<mode>.py` of the chosen mode becomes `<name>.py`.
PER_MODE_FILES = [
    "realtime/channelsmiddleware.py",
    "tests/credentials.py",
]


def prune(project: Path) -> None:
    for mode, paths in MODE_ONLY_FILES.items():
        if mode != AUTH_MODE:
            for path in paths:
                (project / path).unlink()
    for path in map(Path, PER_MODE_FILES):
        for mode in AUTH_MODES:
            variant = project / path.with_name(f"{path.stem}_{mode}{path.suffix}")
            if mode == AUTH_MODE:
                shutil.move(variant, project / path)
            else:
                variant.unlink()


def write_dev_env(project: Path) -> None:
    """A git-ignored .env for local development: DEBUG on, a fresh secret key."""
    example = (project / ".env.example").read_text()
    key = secrets.token_urlsafe(50)
    dev = example.replace("# DJANGO_DEBUG=on", "DJANGO_DEBUG=on").replace(
        "# DJANGO_SECRET_KEY=", f"DJANGO_SECRET_KEY={key}"
    )
    (project / ".env").write_text(dev)


def main() -> None:
    project = Path.cwd()
    prune(project)
    write_dev_env(project)
    print(
        f"""
Created {SLUG}/ (WebSocket auth: {AUTH_MODE}).

Next steps:
    cd {SLUG}
    uv run manage.py migrate && uv run manage.py runserver   # http://127.0.0.1:8000/
    uv run pytest                                            # the project's own tests

No uv yet? https://docs.astral.sh/uv/ (or: pip install uv).
"""
    )


if __name__ == "__main__":
    main()
