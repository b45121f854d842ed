"""Regenerate `{{cookiecutter.project_slug}}/uv.lock`, the lock that every baked project ships.

    uv run scripts/lock.py              # after changing the baked pyproject.toml's dependencies
    uv run scripts/lock.py --upgrade    # move every package to the newest version allowed

Bakes the template twice, with and without the demo page (the only answer the dependencies
depend on: playwright), locks each bake with `uv lock` (which keeps the versions of the current
template lock unless --upgrade is given), and merges the two locks into the template's: what only
the demo page needs between `{%- if cookiecutter.demo_page %}` and `{%- endif %}`, the project's
own name from its slug, its entry first (uv compares locks by content, not by order). Then it
bakes both again and checks that each lock is current (`uv lock --check --offline`). Needs the
package index, unlike a bake, which never does.

tests/test_bake.py::test_lock_is_current checks every variant's lock the same way.
"""

import argparse
import difflib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
TEMPLATE_LOCK = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "uv.lock"
SLUG = "lock_template_project"
NAME_LINE = f'name = "{SLUG.replace("_", "-")}"'
TEMPLATE_NAME_LINE = "name = \"{{ cookiecutter.project_slug|replace('_', '-') }}\""
DEMO_IF = "{%- if cookiecutter.demo_page %}"
ENDIF = "{%- endif %}"
HEADER_COMMENT = (
    "{#- Written by scripts/lock.py from two bakes of this template locked by uv: run it, "
    "do not edit. -#}\n"
)
SEPARATOR = "\n\n[[package]]\n"


def uv_env() -> dict[str, str]:
    """This environment without the template's own virtual environment (uv run sets it)."""
    return {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}


def bake(output_dir: Path, demo_page: bool) -> Path:
    return Path(
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            output_dir=str(output_dir),
            extra_context={"project_slug": SLUG, "demo_page": demo_page},
            accept_hooks=False,  # the dependencies are all in the rendered pyproject.toml
        )
    )


def uv(project: Path, *args: str) -> None:
    result = subprocess.run(
        ["uv", *args], cwd=project, env=uv_env(), capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"uv {' '.join(args)} failed in a bake:\n{result.stderr}")


def split(lock: str) -> tuple[str, dict[str, str]]:
    """(the header, {a package's name, version and source lines: its entry's lines}) of a lock."""
    header, *entries = lock.rstrip("\n").split(SEPARATOR)
    return header, {"\n".join(entry.splitlines()[:3]): entry for entry in entries}


def demo_only(demo_lines: list[str], plain_lines: list[str]) -> list[str]:
    """demo_lines, with the runs of lines that plain_lines lacks put under the demo_page answer.

    A tag strips the newlines before it ({%-), so no tag may follow a blank line.
    """
    merged = []
    matcher = difflib.SequenceMatcher(a=demo_lines, b=plain_lines, autojunk=False)
    for operation, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if operation == "equal":
            merged += demo_lines[a_start:a_end]
        elif operation == "delete" and merged and merged[-1] and demo_lines[a_end - 1]:
            merged += [DEMO_IF, *demo_lines[a_start:a_end], ENDIF]
        else:
            sys.exit(
                "The demo page changes the lock beyond adding lines:\n"
                + "\n".join(demo_lines[a_start:a_end])
                + "\n---\n"
                + "\n".join(plain_lines[b_start:b_end])
            )
    return merged


def merge(demo_lock: str, plain_lock: str) -> str:
    """The template lock that renders to demo_lock with the demo page, to plain_lock without."""
    demo_header, demo = split(demo_lock)
    plain_header, plain = split(plain_lock)
    if demo_header != plain_header:
        sys.exit("The demo page changes the lock's header (its Python forks): merge by hand.")
    if unknown := set(plain) - set(demo):
        sys.exit(f"Packages locked without the demo page only: {sorted(unknown)}")
    project = next(key for key in demo if key.startswith(NAME_LINE + "\n"))
    lines = demo_header.splitlines()
    for key in [project, *(key for key in demo if key != project)]:
        entry = demo[key].splitlines()
        if key == project:
            entry = demo_only(entry, plain[key].splitlines())
            entry[0] = TEMPLATE_NAME_LINE
        elif key not in plain:
            lines += [DEMO_IF, "", "[[package]]", *entry, ENDIF]
            continue
        elif plain[key] != demo[key]:
            sys.exit(f"The demo page changes the lock of a shared package:\n{key}")
        lines += ["", "[[package]]", *entry]
    template = HEADER_COMMENT + "\n".join(lines) + "\n"
    if any(marker in demo_lock for marker in ("{{", "{%", "{#")):
        sys.exit("A locked package carries Jinja syntax: the template lock needs {% raw %}.")
    return template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upgrade", action="store_true", help="newest allowed versions")
    upgrade = ["--upgrade"] if parser.parse_args().upgrade else []
    with tempfile.TemporaryDirectory() as tmp:
        locks = {}
        for demo_page in (True, False):
            project = bake(Path(tmp) / f"demo_{demo_page}", demo_page)
            uv(project, "lock", "--quiet", *upgrade)
            locks[demo_page] = (project / "uv.lock").read_text()
        TEMPLATE_LOCK.write_text(merge(locks[True], locks[False]))
    with tempfile.TemporaryDirectory() as tmp:
        for demo_page in (True, False):
            uv(bake(Path(tmp) / f"demo_{demo_page}", demo_page), "lock", "--check", "--offline")
    print(f"Wrote {TEMPLATE_LOCK.relative_to(TEMPLATE_DIR)}; both bakes' locks are current.")


if __name__ == "__main__":
    main()
