"""The demo page in headless Chromium, for the tests that drive it: the browser, a development
server (DEBUG on) shared by a test module, and DemoPage, a tab used as a person would use it.

Playwright drives the system's Chromium: its headless shell when there is one (Debian:
`apt-get install chromium-headless-shell`), else the browser (`apt-get install chromium`); the
CHROMIUM variable names another binary. Playwright's own browser download is not needed. Without
Chromium these tests skip, or fail with REQUIRE_BROWSER=1 (CI).
"""

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.live_server import LiveServer
from tests.users import USERS

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SOCKETS = re.compile(r"/ws/chat/")
# Bounds for `expect` to see the page get there: pytest-xdist runs other tests beside the browser,
# and a sign-in and connect on a busy machine can take longer than Playwright's default 5 s.
expect.set_options(timeout=20_000)


def browser_required() -> bool:
    return os.environ.get("REQUIRE_BROWSER", "") not in ("", "0")


def chromium_executable() -> str:
    """Chromium's path; skips (or, with REQUIRE_BROWSER=1, fails) when there is none.

    The headless shell first, as Playwright itself uses for headless runs: the whole suite took
    48 to 51 s with it and 62 s with the full browser, on two cores.
    """
    executable = (
        os.environ.get("CHROMIUM")
        or shutil.which("chromium-headless-shell")
        or shutil.which("chromium")
    )
    if not executable or not Path(executable).is_file():
        message = (
            "needs Chromium: apt-get install chromium-headless-shell (or chromium), "
            "or set CHROMIUM to its path"
        )
        if browser_required():
            pytest.fail(f"{message} (REQUIRE_BROWSER is set)")
        pytest.skip(message)
    return executable


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium."""
    executable = chromium_executable()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory, template_db, isolated_redis_keys):
    """uvicorn with DEBUG on (the demo page is a development tool), shared by this module."""
    workdir = tmp_path_factory.mktemp("demo-server")
    with LiveServer(workdir, template_db, isolated_redis_keys, DJANGO_DEBUG="on") as server:
        yield server


class DemoPage:
    """One browser tab on the demo page, used the way a person would use it."""

    def __init__(self, page, url):
        self.page = page
        self.errors = []  # uncaught exceptions and unhandled rejections in the page
        page.on("pageerror", lambda error: self.errors.append(error))
        page.goto(url)
        self.state = page.locator("#state")
        self.closes = page.locator("#closes li")
        self.messages = page.locator("#messages")
        self.online = page.locator("#online li")

    def sign_in(self, username):
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(USERS[username])
        self.page.get_by_role("button", name="Sign in").click()

    def join(self, room):
        self.page.get_by_label("Room").fill(room)
        self.page.get_by_role("button", name="Join").click()

    def say(self, text):
        self.page.get_by_label("Message").fill(text)
        self.page.get_by_role("button", name="Send").click()

    def storage(self):
        return self.page.evaluate(
            "() => [JSON.stringify(localStorage), JSON.stringify(sessionStorage), document.cookie]"
        )


@pytest.fixture
def open_demo(browser, demo_server):
    """`open_demo(route=None)` -> a DemoPage in a fresh browser context (a user of its own).

    `route(websocket_route)`, when given, handles the page's chat sockets (Playwright's
    WebSocketRoute); it must connect them to the server itself. `init_script` runs in the page
    before its own scripts.
    """
    contexts = []

    def open_page(route=None, init_script=None):
        context = browser.new_context(viewport={"width": 1100, "height": 640})
        contexts.append(context)
        page = context.new_page()
        if route is not None:
            page.route_web_socket(SOCKETS, route)
        if init_script is not None:
            page.add_init_script(init_script)
        return DemoPage(page, f"{demo_server.http_url}/")

    yield open_page
    for context in contexts:
        context.close()


def refused_handshakes(server, path):
    """How many handshakes to `path` the server's log shows refused (uvicorn's handshake lines)."""
    return len(re.findall(rf'"WebSocket {re.escape(path)}(\?[^"]*)?" 403', server.output()))
