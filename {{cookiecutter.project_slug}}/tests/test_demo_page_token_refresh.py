"""The demo page's client refreshes its access token before it expires and sends the new one
in band, in headless Chromium against a real uvicorn with 4-second tokens."""

import json
import time

import pytest
from playwright.sync_api import expect

from tests.demo_page import SOCKETS, DemoPage

pytestmark = pytest.mark.server


def test_access_token_is_refreshed_before_it_expires_and_sent_in_band(browser, server_process):
    lifetime = 4
    # The page refreshes at 0.8 of the lifetime, as little as 0.6 s before a 4 s token expires
    # (`exp` is in whole seconds): the leeway keeps a busy machine's late refresh from racing the
    # server's close. The socket must still outlive the first token's expiry, leeway included.
    leeway = 3
    server = server_process(
        DJANGO_DEBUG="on", JWT_ACCESS_TOKEN_LIFETIME=str(lifetime), JWT_LEEWAY=str(leeway)
    )
    frames = []  # what the page sent on its socket

    def record(websocket):
        server_side = websocket.connect_to_server()

        def forward(frame):
            frames.append(frame)
            server_side.send(frame)

        websocket.on_message(forward)

    context = browser.new_context()
    try:
        page = context.new_page()
        page.route_web_socket(SOCKETS, record)
        alice = DemoPage(page, f"{server.http_url}/")
        with page.expect_response("**/api/token/") as signed_in:
            alice.sign_in("alice")
        signed_in_at = time.monotonic()
        first_access = signed_in.value.json()["access"]
        expect(alice.state).to_have_text("open")

        with page.expect_response("**/api/token/refresh/", timeout=lifetime * 1000) as refreshed:
            pass
        assert time.monotonic() - signed_in_at < lifetime
        assert refreshed.value.status == 200
        new_access = refreshed.value.json()["access"]
        assert new_access != first_access
        deadline = time.monotonic() + 20  # a bound for a busy machine; it usually takes ms
        while {"type": "auth", "token": new_access} not in map(json.loads, frames):
            assert time.monotonic() < deadline, frames
            page.wait_for_timeout(50)
        expect(page.locator("#refreshes")).not_to_have_text("0")

        # Past the first token's expiry (and its leeway), the page still chats.
        past_expiry = lifetime + leeway + 1
        page.wait_for_timeout(max(0, past_expiry - (time.monotonic() - signed_in_at)) * 1000)
        alice.say("after the first token expired")
        expect(alice.messages).to_contain_text("alice: after the first token expired")
        assert alice.errors == []
    finally:
        context.close()
