"""Bad answers are refused before anything is written, with a message that says what is wrong."""

import subprocess
import sys

import pytest

from tests.conftest import TEMPLATE_DIR


def bake_cli(tmp_path, **answers):
    args = [f"{key}={value}" for key, value in answers.items()]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "-o",
            str(tmp_path),
            str(TEMPLATE_DIR),
            *args,
        ],
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(
    ("slug", "reason"),
    [
        ("My-Project", "lowercase Python identifier"),
        ("my-project", "lowercase Python identifier"),
        ("1chat", "lowercase Python identifier"),
        ("chat app", "lowercase Python identifier"),
        ("class", "Python keyword"),
        ("django", "would shadow"),
        ("channels", "would shadow"),
        ("config", "would shadow"),
        ("realtime", "would shadow"),
        ("test", "would shadow"),
        ("tests", "would shadow"),
        ("json", "would shadow"),
    ],
)
def test_bad_slug_is_refused(tmp_path, slug, reason):
    result = bake_cli(tmp_path, project_slug=slug)

    assert result.returncode != 0
    assert f"project_slug {slug!r}" in result.stderr
    assert reason in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_unknown_auth_mode_is_refused(tmp_path):
    # Cookiecutter checks choice answers against cookiecutter.json before any hook runs.
    result = bake_cli(tmp_path, auth_mode="cookie")

    assert result.returncode != 0
    assert "cookie provided for choice variable auth_mode" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_demo_page_answer_must_be_yes_or_no(tmp_path):
    result = bake_cli(tmp_path, demo_page="maybe")

    assert result.returncode != 0
    assert "maybe provided for variable demo_page could not be converted to a boolean" in (
        result.stderr
    )
    assert list(tmp_path.iterdir()) == []


def test_declined_demo_page_leaves_no_trace(tmp_path):
    result = bake_cli(tmp_path, demo_page="no")

    assert result.returncode == 0, result.stderr
    realtime = tmp_path / "realtime_chat" / "realtime"
    assert realtime.is_dir()
    assert not (realtime / "static").exists()
    assert not (realtime / "templates").exists()
    assert "Demo page" not in result.stdout


def test_good_slug_is_accepted(tmp_path):
    result = bake_cli(tmp_path, project_slug="chat_server2")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "chat_server2" / "manage.py").is_file()
    assert "uv run pytest" in result.stdout
