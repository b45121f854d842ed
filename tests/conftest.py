"""The variant matrix, and one baked project per variant for the whole session.

Each auth mode is baked once; so is a project whose free-text answers are hostile to the files
they land in (quotes, backslashes, non-ASCII), which also declines the demo page. Every test in
tests/ runs against every variant.
"""

import os
from pathlib import Path

import pytest

TEMPLATE_DIR = Path(__file__).resolve().parent.parent

AUTH_MODES = ["ticket", "query_jwt", "subprotocol"]

VARIANTS = {
    "ticket": {"auth_mode": "ticket"},
    "query_jwt": {"auth_mode": "query_jwt"},
    "subprotocol": {"auth_mode": "subprotocol"},
    "awkward-text": {
        "project_name": 'Café "Chat" \\ Co\'s',
        "description": 'Quotes " and \\ backslashes and {braces}',
        "author_name": "Zoë O'Brien",
        "auth_mode": "ticket",
        "demo_page": False,
    },
}


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES", "") not in ("", "0")


@pytest.fixture(scope="session")
def bake(cookies_session):
    """`bake(name)` -> the baked project directory of VARIANTS[name], baked once per session.

    `bake(name, to_run=True)` -> a second bake of it, for the tests that install and run the
    project: what they leave behind (.venv, a database, caches) stays out of the copy that the
    other tests inspect, whichever order pytest-xdist runs them in.
    """
    baked = {}

    def bake_variant(name, to_run=False):
        if (name, to_run) not in baked:
            result = cookies_session.bake(extra_context=VARIANTS[name])
            assert result.exit_code == 0, result.exception
            baked[name, to_run] = Path(result.project_path)
        return baked[name, to_run]

    return bake_variant


@pytest.fixture(params=list(VARIANTS))
def variant(request):
    return request.param


@pytest.fixture
def project(bake, variant):
    return bake(variant)


# The slowest tests, slowest first. pyproject.toml has pytest-xdist hand out tests one at a time
# (--dist load --maxschedchunk 1), and a worker always holds the test it runs plus one more: each
# slow test is followed by a quick one, so that the test a busy worker holds back is a quick one
# and the next slow test goes to the first worker that is free.
SLOWEST_FIRST = [
    "test_suite_passes_on_redis_and_postgresql",
    "test_suite_passes_on_newest_python_and_django",
    "test_suite_passes_on_embedded_defaults",
    "test_quick_benchmark_reports_every_scenario",
    "test_quick_benchmark_on_redis",
    "test_readme_quick_start_serves_on_an_empty_machine",
]


def pytest_collection_modifyitems(items):
    def rank(item):
        name = getattr(item, "originalname", item.name)
        return SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST else len(SLOWEST_FIRST)

    slow = sorted((item for item in items if rank(item) < len(SLOWEST_FIRST)), key=rank)
    quick = [item for item in items if rank(item) == len(SLOWEST_FIRST)]
    ordered = []
    for item in slow:
        ordered.append(item)
        if quick:
            ordered.append(quick.pop(0))
    items[:] = ordered + quick
