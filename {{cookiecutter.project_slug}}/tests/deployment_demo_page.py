"""The demo page in headless Chromium through the production topology of test_deployment.py,
which imports this test so that it runs against the topology that module starts once.

A deployment serves no demo page (DEBUG is off there, as in the topology): the test renders the
page's template among the collected static files, and nginx serves it from there, as a site's own
frontend would be served. Everything the page then loads and talks to goes through nginx too: its
scripts (static files, served by nginx itself), sign-in, the WebSocket{% if cookiecutter.auth_mode == "ticket" %} and its ticket{% endif %}, with the
page's Origin, and the reconnections of a rolling restart. Without Chromium it skips, or fails
with REQUIRE_BROWSER=1 (CI).
"""

import re
import shutil
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string
from playwright.sync_api import expect, sync_playwright

from tests.demo_page import CHROMIUM_ARGS, DemoPage, chromium_executable

AUTH_MODE = "{{ cookiecutter.auth_mode }}"


def test_demo_page_chats_through_the_proxy_and_survives_a_rolling_restart(topology):
    executable = chromium_executable()
    # A document of the proxy's own: Chromium blocks a page that came from nowhere (a route
    # Playwright fulfils) from opening sockets to a loopback address.
    served = Path(settings.STATIC_ROOT) / "deployment-test"
    served.mkdir(exist_ok=True)
    (served / "demo.html").write_text(
        render_to_string("realtime/demo.html", {"auth_mode": AUTH_MODE})
    )
    url = f"{topology.proxy.http_url}/static/deployment-test/demo.html"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            pages = []
            for _ in range(2):
                pages.append(DemoPage(browser.new_context().new_page(), url))
            alice, bob = pages
            alice.sign_in("alice")
            bob.sign_in("bob")
            for page in pages:
                expect(page.state).to_have_text("open")
            alice.say("hello through nginx")
            expect(bob.messages).to_contain_text("alice: hello through nginx")

            # Replicas restarted one at a time, as a deploy does: each closes its sockets with
            # 1012, and every page reconnects by itself, through nginx, to the other process.
            for server in topology.servers:
                server.stop()
                server.start()
            for page in pages:
                expect(page.closes.first).to_contain_text("1012 service restart")
                expect(page.state).to_have_text("open", timeout=30_000)
            bob.say("hello after the restarts")
            expect(alice.messages).to_contain_text("bob: hello after the restarts")
            assert alice.errors == bob.errors == []
        finally:
            browser.close()
            shutil.rmtree(served)

    access_log = (topology.workdir / "access.log").read_text()
    for script in ("demo.js", "client.js"):
        assert re.search(rf'"GET /static/realtime/{script} HTTP/1.1" 200 ', access_log), script
    assert '"POST /api/token/ HTTP/1.1" 200 ' in access_log
    assert re.search(r'"GET /ws/chat/lobby/ HTTP/1.1" 101 ', access_log)
