"""The browser client's JSDoc types hold: TypeScript (`tsc --strict`, tsconfig.json) checks
realtime/static/realtime/client.js, and tests/client_usage.ts uses it as a TypeScript project would,
including misuses the types must refuse.

TypeScript 5 comes from the npm registry through npx (cached after the first run). Without Node.js
the test skips; REQUIRE_NODE=1 (CI) turns that into a failure.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent


def test_client_types_check_under_strict_typescript():
    npx = shutil.which("npx")
    if npx is None:
        message = "needs Node.js (npx) for TypeScript"
        if os.environ.get("REQUIRE_NODE", "") not in ("", "0"):
            pytest.fail(f"{message} (REQUIRE_NODE is set)")
        pytest.skip(message)
    result = subprocess.run(
        [npx, "--yes", "-p", "typescript@5", "tsc", "-p", "tsconfig.json"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
