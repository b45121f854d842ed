"""Whether a test that lacks a service (Redis, redis-server) fails or skips.

REQUIRE_SERVICES=1 (CI) turns each such skip into a failure, so that nothing passes by skipping.
"""

import os

import pytest


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES", "") not in ("", "0")


def skip_or_fail(message: str):
    """Skip the test for lack of a service, or fail it when REQUIRE_SERVICES is set."""
    if services_required():
        pytest.fail(f"{message} (REQUIRE_SERVICES is set)")
    pytest.skip(message)
