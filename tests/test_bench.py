"""The benchmark (bench/ws_bench.py) runs to its end in quick mode against baked projects, in
their own environments, and reports every scenario without a single failure or lost message.

Whether it works, not how fast anything is: a timed assertion would fail on a busy machine and
prove nothing. The numbers come from full runs (bench/README.md).
"""

import json
import math
import os
import secrets
import shutil
import subprocess

import pytest

from tests.conftest import TEMPLATE_DIR, services_required
from tests.test_generated import UV, project_env, uv_sync

BENCH = TEMPLATE_DIR / "bench" / "ws_bench.py"


def scenarios(mode, redis=False):
    return [
        "connect.noauth",
        "connect.auth",
        "connect.chat",
        "connect.nolimits",
        "limits.connect",
        *(["ticket_flow"] if mode == "ticket" else []),
        "burst.noauth",
        "burst.chat",
        "fanout.bare",
        "fanout.chat",
        "fanout.nolimits",
        "limits.fanout",
        "memory.noauth",
        "memory.chat",
        # Presence and history (bench/sync.py)
        "sync.off",
        "sync.on",
        "sync.on_plain",
        "resume.plain",
        "resume.missed",
        *(["memory.history"] if redis else []),
    ]


def run_quick_benchmark(project, results_file, *options, **env):
    """ws_bench.py --quick from the baked project's directory, in its environment, as the
    template's README says to run it."""
    return subprocess.run(
        [
            UV,
            "run",
            "--no-sync",
            "python",
            str(BENCH),
            "--quick",
            "--json",
            str(results_file),
            *options,
        ],
        cwd=project,
        env=project_env(**env),
        capture_output=True,
        text=True,
        timeout=600,
    )


def assert_reports_every_scenario(result, results_file, mode, redis=False, extra=()):
    assert result.returncode == 0, (result.stdout + result.stderr)[-8000:]
    assert "round 2/2" in result.stderr  # the progress display
    assert "lost" in result.stdout.split("---")[0]  # the table's column
    assert f"auth mode {mode}:" in result.stdout  # read from the project's own middleware
    for line in ("cpu:", "python:", "packages: django"):
        assert line in result.stdout
    results = json.loads(results_file.read_text())
    assert results["mode"] == mode
    rows = {row["key"]: row for row in results["rows"]}
    expected = scenarios(mode, redis)
    # --through-proxy's rows come before the memory rows.
    at = expected.index("memory.noauth")
    assert list(rows) == expected[:at] + list(extra) + expected[at:]
    for row in rows.values():
        assert row["label"] in result.stdout
        # No refused handshake, no error, and no message lost: every scenario that sends counts
        # its losses ("lost" column; memory rows send nothing).
        assert row["failures"] == "", row
        assert row["lost"] == (None if row["key"].startswith("memory") else 0), row
        # ... and none duplicated (presence and history: "duplicated" would be among failures)
        numbers = [row[name] for name in ("value", "ratio", "cpu_ms", "cpu_ratio")]
        assert row["value"] is not None, row
        assert all(math.isfinite(x) and x > 0 for x in numbers if x is not None), row


@pytest.mark.parametrize("mode", ["ticket", "query_jwt"])
def test_quick_benchmark_reports_every_scenario(bake, mode, tmp_path):
    project = bake(mode, to_run=True)
    uv_sync(project)
    results_file = tmp_path / "results.json"

    result = run_quick_benchmark(project, results_file)

    assert "embedded (InMemoryChannelLayer, LocMemCache)" in result.stdout, result.stderr[-4000:]
    assert_reports_every_scenario(result, results_file, mode)


def require(available, message):
    """Skip without `available`, or fail when the services are required (CI)."""
    if not available:
        if services_required():
            pytest.fail(f"{message} (REQUIRE_SERVICES is set)")
        pytest.skip(message)


def test_quick_benchmark_on_redis(bake, tmp_path):
    redis_url = os.environ.get("REDIS_URL")
    require(redis_url, "set REDIS_URL to run the benchmark on Redis")
    project = bake("ticket", to_run=True)
    uv_sync(project)
    results_file = tmp_path / "results.json"

    # Its keys under a prefix of this run's, which the benchmark deletes when it is done.
    prefix = f"tpl-bench-{secrets.token_hex(4)}"
    result = run_quick_benchmark(
        project, results_file, REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix
    )

    assert "Redis (Pub/Sub channel layer, RedisCache)" in result.stdout, result.stderr[-4000:]
    assert_reports_every_scenario(result, results_file, "ticket", redis=True)


def test_quick_benchmark_through_the_proxy(bake, tmp_path):
    """--through-proxy: nginx with the project's deploy/nginx.conf in front of the server; the
    handshakes and the fan-out through it, against the same direct."""
    nginx = shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK)
    require(nginx, "nginx is not installed (apt-get install nginx)")
    project = bake("ticket", to_run=True)
    uv_sync(project)
    results_file = tmp_path / "results.json"

    result = run_quick_benchmark(project, results_file, "--through-proxy")

    proxied = ["proxy.connect.noauth", "proxy.connect.chat", "proxy.fanout.chat"]
    assert_reports_every_scenario(result, results_file, "ticket", extra=proxied)
    rows = {row["key"]: row for row in json.loads(results_file.read_text())["rows"]}
    assert all(rows[key]["ratio"] is not None for key in proxied)
