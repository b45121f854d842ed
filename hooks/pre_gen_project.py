"""Refuse answers that would produce a broken project, before anything is written.

Choice answers (auth_mode) are already checked by cookiecutter against cookiecutter.json.
"""

import keyword
import re
import sys

SLUG = "{{ cookiecutter.project_slug }}"
# Top-level modules the generated project imports or creates: a project directory of the same name
# on sys.path would shadow them.
RESERVED = {
    "asyncio",
    "channels",
    "channels_redis",
    "config",
    "daphne",
    "django",
    "environ",
    "manage",
    "pytest",
    "realtime",
    "redis",
    "rest_framework",
    "rest_framework_simplejwt",
    "test",
    "tests",
    "users",
    "uvicorn",
    "websockets",
}


def slug_problem(slug: str) -> str | None:
    """Say what is wrong with a project slug, or return None when it is fine."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", slug):
        return (
            "must be a lowercase Python identifier: start with a letter, "
            "then only lowercase letters, digits and underscores"
        )
    if keyword.iskeyword(slug):
        return "is a Python keyword"
    if slug in RESERVED or slug in sys.stdlib_module_names:
        return "would shadow a module of the same name that the project imports"
    return None


def main() -> int:
    problem = slug_problem(SLUG)
    if problem:
        print(f"ERROR: project_slug {SLUG!r} {problem}.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
