"""What realtime/client.js does on each close code, in the demo page in headless Chromium.

The codes are played by Playwright's WebSocket routing: the page's socket goes through to the real
server (tests.demo_page), and the route closes it with the code under test. A module of its own, so
that its waits (the client backs off for seconds on 4429 and 1013) run beside test_demo_page.py's.
"""

import time

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.server

# What client.js waits at least after 4429 or 1013 (DEFAULTS.slowDownMs).
SLOW_DOWN_SECONDS = 5


@pytest.mark.parametrize(
    ("code", "reason", "then"),
    [
        (4403, "auth_failed", "stopped"),
        (4401, "logged_out", "signed-out"),
        (4401, "token_expired", "open"),
        # The client waits out SLOW_DOWN_SECONDS of real time before it tries again.
        pytest.param(4429, "", "open", marks=pytest.mark.slow),
        pytest.param(1013, "", "open", marks=pytest.mark.slow),
        (1012, "", "open"),
    ],
)
def test_client_acts_on_the_close_code(open_demo, code, reason, then):
    sockets = []  # (when the page opened it, its route)

    def pass_through(websocket):
        sockets.append((time.monotonic(), websocket))
        websocket.connect_to_server()

    alice = open_demo(route=pass_through)
    requested = []
    alice.page.on("request", lambda request: requested.append(request.url))
    alice.sign_in("alice")
    expect(alice.state).to_have_text("open")

    closed_at = time.monotonic()
    sockets[0][1].close(code=code, reason=reason)
    expect(alice.closes.first).to_contain_text(str(code))
    expect(alice.state).to_have_text(then, timeout=SLOW_DOWN_SECONDS * 1000 + 5_000)

    if then == "open":
        assert len(sockets) == 2
        reconnected_after = sockets[1][0] - closed_at
        if code in (4429, 1013):
            assert reconnected_after >= SLOW_DOWN_SECONDS
        if reason == "token_expired":
            # A fresh access token first, then the new credential.
            assert sum(url.endswith("/api/token/refresh/") for url in requested) == 1
        alice.say("still here")
        expect(alice.messages).to_contain_text("alice: still here")
    else:
        alice.page.wait_for_timeout(2_000)
        assert len(sockets) == 1  # it did not try again
    if then == "signed-out":
        expect(alice.page.get_by_role("button", name="Sign in")).to_be_visible()
    assert alice.errors == []
