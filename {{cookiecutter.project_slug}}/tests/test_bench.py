"""The benchmark (bench/ws_bench.py) runs to its end in quick mode and reports every scenario.

Whether it works, not how fast anything is: a timed assertion would fail on a busy machine and
prove nothing. The numbers come from the full run (see README.md, "Performance").
"""

import json
import math
import os
import subprocess
import sys

import pytest

from bench.credentials import AUTH_MODE
from tests.live_server import PROJECT_DIR

pytestmark = pytest.mark.server

SCENARIOS = [
    "connect.noauth",
    "connect.auth",
    "connect.chat",
    *(["ticket_flow"] if AUTH_MODE == "ticket" else []),
    "burst.noauth",
    "burst.chat",
    "fanout.bare",
    "fanout.chat",
    "memory.noauth",
    "memory.chat",
]


def test_quick_benchmark_reports_every_scenario(tmp_path, isolated_redis_keys):
    # Its own SQLite database: the server must not share pytest-django's test database.
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    if isolated_redis_keys:  # Redis, when set, under this test run's prefix
        env["REDIS_KEY_PREFIX"] = isolated_redis_keys
    results_file = tmp_path / "results.json"

    result = subprocess.run(
        [sys.executable, "bench/ws_bench.py", "--quick", "--json", str(results_file)],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "round 2/2" in result.stderr  # the progress display
    for line in ("cpu:", "python:", "packages: django"):
        assert line in result.stdout
    rows = {row["key"]: row for row in json.loads(results_file.read_text())["rows"]}
    assert list(rows) == SCENARIOS
    for row in rows.values():
        assert row["label"] in result.stdout
        assert row["failures"] == "", row
        numbers = [row[name] for name in ("value", "ratio", "cpu_ms", "cpu_ratio")]
        assert row["value"] is not None, row
        assert all(math.isfinite(x) and x > 0 for x in numbers if x is not None), row
