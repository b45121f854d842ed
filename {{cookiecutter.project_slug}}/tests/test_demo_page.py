"""The demo page and realtime/client.js in headless Chromium, against a real uvicorn.

Two users sign in on two pages and chat both ways; then the server restarts, which closes every
socket with 1012, and both pages reconnect by themselves. A restart is the honest way to have the
server close a socket here: it is what every deploy does, it needs no test-only endpoint in the
project, and it works on the embedded defaults as on Redis.

Chromium, the shared development server and DemoPage come from tests.demo_page; how the client
retries is in test_demo_page_retries.py, its in-band refresh in test_demo_page_token_refresh.py,
and what it does on each close code in test_client_close_codes.py.
"""

import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.credentials import live_ws_credentials_for
from tests.demo_page import refused_handshakes

pytestmark = pytest.mark.server

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_two_users_chat_and_reconnect_by_themselves_after_the_server_restarts(
    demo_server, open_demo, tmp_path
):
    alice, bob = open_demo(), open_demo()
    alice.sign_in("alice")
    bob.sign_in("bob")
    for page in (alice, bob):
        expect(page.state).to_have_text("open")

    alice.say("hello bob")
    expect(bob.messages).to_contain_text("alice: hello bob")
    bob.say("hello alice")
    expect(alice.messages).to_contain_text("bob: hello alice")

    # uvicorn closes every socket with 1012 (service restart) on its way down.
    demo_server.restart()
    for page in (alice, bob):
        expect(page.closes.first).to_contain_text("1012 service restart")
        expect(page.state).to_have_text("open", timeout=20_000)

    alice.say("back after the restart")
    expect(bob.messages).to_contain_text("alice: back after the restart")
    bob.say("me too")
    expect(alice.messages).to_contain_text("bob: me too")
    for page, other in ((alice, "bob"), (bob, "alice")):
        expect(page.online.filter(has_text=other)).to_have_count(1)

    screenshot = Path(os.environ.get("DEMO_SCREENSHOT_DIR") or tmp_path) / "demo-page.png"
    alice.page.screenshot(path=screenshot, full_page=True)
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)
    assert screenshot.stat().st_size > 10_000
    assert alice.errors == bob.errors == []


def test_messages_sent_while_a_page_reconnects_arrive_once_each_in_order(
    demo_server, open_demo, browser
):
    """Alice's page stays through a server restart; Bob's page is offline meanwhile, and
    reconnects after Alice sent three messages: it shows all three, once each, in order. Both
    pages show the other online, and Bob's shows Alice leaving when her tab closes."""
    alice, bob = open_demo(), open_demo()
    alice.sign_in("alice")
    bob.sign_in("bob")
    for page, other in ((alice, "bob"), (bob, "alice")):
        expect(page.state).to_have_text("open")
        expect(page.online.filter(has_text=other)).to_have_count(1)
    alice.say("before")
    expect(bob.messages).to_contain_text("alice: before")

    bob.page.context.set_offline(True)  # its reconnections fail until it is back online
    demo_server.restart()
    expect(alice.closes.first).to_contain_text("1012 service restart")
    expect(alice.state).to_have_text("open", timeout=20_000)
    expect(bob.state).to_have_text("reconnecting")
    missed = ["missed one", "missed two", "missed three"]
    for text in missed:
        alice.say(text)
        expect(alice.messages).to_contain_text(f"alice: {text}")
    bob.page.context.set_offline(False)
    expect(bob.state).to_have_text("open", timeout=40_000)

    expect(bob.messages.locator("li").filter(has_text="alice: missed three")).to_have_count(1)
    chat = [
        text for text in bob.messages.locator("li").all_inner_texts() if text.startswith("alice:")
    ]
    assert chat == ["alice: before"] + [f"alice: {text}" for text in missed]
    for page, other in ((alice, "bob"), (bob, "alice")):
        expect(page.online.filter(has_text=other)).to_have_count(1)

    alice.page.close()
    expect(bob.online.filter(has_text="alice")).to_have_count(0)
    expect(bob.messages).to_contain_text("alice left")
    assert bob.errors == []


# Keeps every WebSocket the page opens, with the subprotocols it offered: Playwright shows a
# socket's URL, but not the subprotocol the server accepted.
RECORD_SOCKETS = """
const NativeWebSocket = window.WebSocket;
const recorded = [];
window.WebSocket = class extends NativeWebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    recorded.push({ socket: this, offered: protocols });
  }
};
window.recordedSockets = () =>
  recorded.map(({ socket, offered }) => ({ url: socket.url, offered, accepted: socket.protocol }));
"""


def test_socket_carries_the_projects_credential_and_is_accepted_with_chat_v1(open_demo):
    """The browser fails any handshake whose answer does not pick one of the offered
    subprotocols: the socket opening at all proves the server accepted `chat.v1`."""
    alice = open_demo(init_script=RECORD_SOCKETS)
    with alice.page.expect_response("**/api/token/") as signed_in:
        alice.sign_in("alice")
    access = signed_in.value.json()["access"]
    expect(alice.state).to_have_text("open")

    (socket,) = alice.page.evaluate("window.recordedSockets()")
    mode = alice.page.locator("#demo").get_attribute("data-auth-mode")
    # Past the credential, the socket asks for presence and history (client.js: resume).
    query, sync = urlsplit(socket["url"]).query.rsplit("presence=1&history=1", 1)
    assert sync == ""
    query = query.rstrip("&")
    assert socket["accepted"] == "chat.v1"
    if mode == "subprotocol":
        assert socket["offered"] == ["chat.v1", f"access_token.{access}"]
        assert query == ""
    elif mode == "ticket":
        assert socket["offered"] == ["chat.v1"]
        assert re.fullmatch(r"ticket=[\w-]{43}", query)
    else:
        assert socket["offered"] == ["chat.v1"]
        assert query == f"token={access}"
    assert alice.errors == []


def test_tokens_are_kept_in_memory_only(open_demo):
    """Not in localStorage, sessionStorage or a cookie, where any script could read them later."""
    alice = open_demo()
    with alice.page.expect_response("**/api/token/") as signed_in:
        alice.sign_in("alice")
    tokens = signed_in.value.json()
    expect(alice.state).to_have_text("open")

    stored = "".join(alice.storage())
    assert tokens["refresh"] not in stored
    assert tokens["access"] not in stored
    assert alice.storage() == ["{}", "{}", ""]
    assert tokens["refresh"] not in alice.page.content()


def test_sign_out_revokes_the_session_and_leaves_the_users_other_tabs(demo_server, open_demo):
    first_tab, second_tab = open_demo(), open_demo()
    with first_tab.page.expect_response("**/api/token/") as signed_in:
        first_tab.sign_in("alice")
    refresh = signed_in.value.json()["refresh"]
    second_tab.sign_in("alice")
    for tab in (first_tab, second_tab):
        expect(tab.state).to_have_text("open")

    with first_tab.page.expect_response("**/api/logout/") as logged_out:
        first_tab.page.get_by_role("button", name="Sign out").click()
    assert logged_out.value.status == 200
    expect(first_tab.state).to_have_text("signed-out")
    assert demo_server.post_json("/api/token/refresh/", {"refresh": refresh})[0] == 401
    # Each tab signed in on its own, so each is a session of its own (realtime/sign_ins.py):
    # the other tab's goes on.
    second_tab.say("still signed in")
    expect(second_tab.messages).to_contain_text("alice: still signed in")
    expect(second_tab.state).to_have_text("open")
    assert first_tab.errors == second_tab.errors == []


def wait_until_refused(server, path, username, within=30.0):
    """Return once a handshake of `username` to `path` is refused (HTTP 403); polled."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        credentials = live_ws_credentials_for(server, username)
        query = credentials.get("query")
        url = f"{server.ws_url}{path}?{query}" if query else f"{server.ws_url}{path}"
        try:
            with connect(url, subprotocols=credentials.get("subprotocols")):
                pass
        except InvalidStatus as refused:
            assert refused.response.status_code == 403
            return
        time.sleep(0.1)
    pytest.fail(f"{path} still admits {username} after {within} s")


def get(url):
    """GET; returns (status, Content-Type, body)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], ""


def test_demo_page_is_served_in_development_only(demo_server, server_process):
    development, production = demo_server, server_process()

    status, content_type, page = get(f"{development.http_url}/")
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert 'src="/static/realtime/demo.js"' in page
    status, content_type, script = get(f"{development.http_url}/static/realtime/client.js")
    assert status == 200
    assert content_type.split(";")[0] in ("text/javascript", "application/javascript")
    assert "export class RealtimeClient" in script

    for path in ("/", "/static/realtime/client.js"):
        assert get(f"{production.http_url}{path}")[0] == 404


def test_the_page_says_when_a_private_room_refuses_it_or_closes_on_it(demo_server, open_demo):
    """A refused handshake is a bare 1006 to a browser: the page says what it may mean. A member
    removed from a room gets 4403 `not_a_member`: the page stops and says so."""
    demo_server.execute_sql("INSERT INTO realtime_room (name, private) VALUES ('staff', 1)")
    # Made as another process would (no signal): the server sees it within MAX_AGE (a second).
    wait_until_refused(demo_server, "/ws/chat/staff/", "bob")
    refused_before = refused_handshakes(demo_server, "/ws/chat/staff/")
    sockets = []

    def pass_through(websocket):
        sockets.append(websocket)
        websocket.connect_to_server()

    alice = open_demo(route=pass_through)
    alice.sign_in("alice")
    expect(alice.state).to_have_text("open")

    alice.join("staff")
    expect(alice.state).to_have_text("stopped", timeout=10_000)
    expect(alice.messages).to_contain_text("may be a private room that you are not a member of")
    assert refused_handshakes(demo_server, "/ws/chat/staff/") - refused_before == 2

    alice.join("lobby")
    expect(alice.state).to_have_text("open")
    sockets[-1].close(code=4403, reason="not_a_member")
    expect(alice.state).to_have_text("stopped")
    expect(alice.page.locator("#state-reason")).to_have_text(
        "not a member of this room (4403 forbidden)"
    )
    assert alice.errors == []
