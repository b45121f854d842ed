"""A project baked with cruft follows the template: `cruft check` says when it is behind, and
`cruft update` applies a later template commit to the files the user has not touched.

On a throwaway git copy of this template (cruft reads templates from git), offline.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEMPLATE_DIR

CRUFT = str(Path(sys.executable).parent / "cruft")
GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
GIT += ["-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".*_cache", "uv.lock")


def run(command, cwd):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout + result.stderr


def commit(directory, message):
    for command in ([*GIT, "add", "-A"], [*GIT, "commit", "-q", "-m", message]):
        returncode, output = run(command, directory)
        assert returncode == 0, output
    return run([*GIT, "rev-parse", "HEAD"], directory)[1].strip()


def test_cruft_update_brings_a_template_change_into_a_baked_project(tmp_path):
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE_DIR, template, ignore=NOT_COPIED)
    assert run([*GIT, "init", "-q"], template)[0] == 0
    first = commit(template, "template")

    returncode, output = run(
        [CRUFT, "create", str(template), "--checkout", first, "--no-input",
         "--output-dir", str(tmp_path / "out"), "--extra-context", '{"auth_mode": "query_jwt"}'],
        tmp_path,
    )  # fmt: skip
    assert returncode == 0, output
    project = tmp_path / "out" / "realtime_chat"
    assert json.loads((project / ".cruft.json").read_text())["commit"] == first
    assert run([*GIT, "init", "-q"], project)[0] == 0
    # The user's own change, in a file the template change below leaves alone.
    with (project / "README.md").open("a") as readme:
        readme.write("\nOur own notes.\n")
    commit(project, "baked")
    secret_env = (project / ".env").read_text()

    returncode, output = run([CRUFT, "check"], project)
    assert returncode == 0, output

    # A later template commit: a changed file and a new one.
    slug_dir = template / "{{cookiecutter.project_slug}}"
    with (slug_dir / "manage.py").open("a") as manage:
        manage.write("# A later template change.\n")
    (slug_dir / "config" / "later.py").write_text('"""A module added by the template later."""\n')
    second = commit(template, "template change")

    returncode, output = run([CRUFT, "check"], project)
    assert returncode != 0
    assert "out of date" in output

    returncode, output = run([CRUFT, "update", "--skip-apply-ask"], project)
    assert returncode == 0, output
    assert (project / "manage.py").read_text().endswith("# A later template change.\n")
    assert (project / "config" / "later.py").exists()
    assert "Our own notes." in (project / "README.md").read_text()
    # Every re-bake writes a .env with a fresh secret key: pyproject's [tool.cruft] skip keeps the
    # project's own.
    assert (project / ".env").read_text() == secret_env
    assert not list(project.rglob("*.rej"))
    assert json.loads((project / ".cruft.json").read_text())["commit"] == second
    returncode, output = run([CRUFT, "check"], project)
    assert returncode == 0, output
