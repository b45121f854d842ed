"""How the demo page's client (realtime/client.js) retries, in headless Chromium against a real
uvicorn: it stops after two refused handshakes in a row, and comes back at once after a server
restart (1012) even when its backoff had grown."""

import re

import pytest
from playwright.sync_api import expect

from tests.demo_page import refused_handshakes

pytestmark = pytest.mark.server


def test_client_stops_after_two_refused_handshakes_in_a_row(demo_server, open_demo):
    """A refused handshake reaches a browser as a bare 1006 before `open`: the client tries once
    more with a fresh credential, then stops instead of hammering the server."""
    alice = open_demo()
    alice.sign_in("alice")
    expect(alice.state).to_have_text("open")

    # The server refuses this path at the handshake (HTTP 403), as it refuses a bad credential.
    alice.join("no such room")
    expect(alice.state).to_have_text("stopped", timeout=10_000)
    expect(alice.page.locator("#state-reason")).to_have_text("handshake refused 2 times in a row")
    assert refused_handshakes(demo_server, "/ws/chat/no%20such%20room/") == 2
    alice.page.wait_for_timeout(2_000)
    assert refused_handshakes(demo_server, "/ws/chat/no%20such%20room/") == 2  # and no more
    expect(alice.closes.filter(has_text="1006")).to_have_count(2)
    assert alice.errors == []


# Keeps the detail of every "state" event the page's client dispatches: the reason of a
# "reconnecting" state names the delay the client chose.
RECORD_STATES = """
const dispatch = EventTarget.prototype.dispatchEvent;
window.recordedStates = [];
EventTarget.prototype.dispatchEvent = function (event) {
  if (event.type === "state") window.recordedStates.push(event.detail);
  return dispatch.call(this, event);
};
"""
RESTART_RETRY = re.compile(r"1012 service restart; retrying in (\d+\.\d) s")


def test_client_reconnects_at_once_on_1012_even_after_failures(open_demo):
    """After three lost connections in a row the backoff has grown to 2 to 4 s; a server restart
    (1012) is no failure: the client comes back within DEFAULTS.restartJitterMs (1 s)."""
    sockets = []

    def pass_through(websocket):
        sockets.append(websocket)
        websocket.connect_to_server()

    alice = open_demo(route=pass_through, init_script=RECORD_STATES)
    alice.sign_in("alice")
    expect(alice.state).to_have_text("open")
    for lost in range(3):
        sockets[-1].close(code=1001)  # going away, each socket short of stableAfterMs
        expect(alice.closes).to_have_count(lost + 1)
        expect(alice.state).to_have_text("open", timeout=10_000)

    sockets[-1].close(code=1012)
    expect(alice.closes).to_have_count(4)
    expect(alice.state).to_have_text("open", timeout=10_000)

    reasons = [state["reason"] for state in alice.page.evaluate("window.recordedStates")]
    delays = [float(match[1]) for reason in reasons if (match := RESTART_RETRY.search(reason))]
    assert len(delays) == 1, reasons
    assert delays[0] <= 1.0, reasons
    assert len(sockets) == 5
    alice.say("back after the restart")
    expect(alice.messages).to_contain_text("alice: back after the restart")
    assert alice.errors == []
