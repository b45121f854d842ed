"""Property-based: whatever arrives in the query string, the subprotocols and the headers, the
WebSocket stack either accepts a valid credential or refuses the handshake, and never raises."""

import string
from urllib.parse import quote

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from config.asgi import application
from tests.communicators import Communicator
from tests.handshakes import ALLOWED_ORIGIN

examples = hypothesis_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

CREDENTIAL_NAMES = ["token", "ticket", "%74oken", "%74icket", "TOKEN", "Ticket", "token%00"]
param_names = st.sampled_from(CREDENTIAL_NAMES) | st.text(max_size=12)
param_values = st.sampled_from(["", "Bearer x", "a" * 43, "%ff", "%"]) | st.text(max_size=80)
query_strings = st.one_of(
    st.binary(max_size=400),
    st.lists(st.tuples(param_names, param_values), max_size=6).map(
        lambda pairs: "&".join(f"{name}={value}" for name, value in pairs).encode(
            "utf-8", "surrogatepass"
        )
    ),
)
subprotocols = st.lists(
    st.sampled_from(["chat.v1", "access_token.", "access_token.eyJ.x.y", "access_token.a" * 50])
    | st.text(max_size=30),
    max_size=4,
)
header_names = st.sampled_from(
    [b"origin", b"cookie", b"authorization", b"sec-websocket-protocol", b"host"]
) | st.binary(min_size=1, max_size=20)
headers = st.lists(st.tuples(header_names, st.binary(max_size=120)), max_size=6)
paths = st.sampled_from(["/ws/chat/lobby/", "/ws/chat/x/", "/"]) | st.text(max_size=40).map(
    lambda text: "/ws/chat/" + text
)


async def handshake(path, query_string, header_list, offered=()):
    """Run one handshake through the full ASGI stack; True if accepted. Re-raises app errors."""
    comm = Communicator(application, path, header_list, list(offered))
    comm.scope["query_string"] = query_string
    try:
        connected, _ = await comm.connect()
    finally:
        await comm.disconnect()
    return connected


@examples
@given(path=paths, query_string=query_strings, header_list=headers, offered=subprotocols)
async def test_arbitrary_handshake_without_a_real_credential_is_refused(
    transactional_db, path, query_string, header_list, offered
):
    assert await handshake(path, query_string, header_list, offered) is False


safe_names = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8).filter(
    lambda name: name not in ("token", "ticket")
)
harmless_params = st.lists(st.tuples(safe_names, st.text(max_size=20)), max_size=4)
allowed_origins = st.sampled_from(
    [ALLOWED_ORIGIN, b"http://127.0.0.1:8000", b"https://localhost", None]
)


@examples
@given(before=harmless_params, after=harmless_params, origin=allowed_origins)
async def test_valid_credential_among_harmless_noise_is_accepted(
    ws_credentials, user, empty_cache, before, after, origin
):
    empty_cache()  # one user asks for many tickets here: keep the throttle out of it
    credentials = await ws_credentials(user)
    pairs = [f"{name}={quote(value)}" for name, value in before]
    pairs += [credentials["query"]] if "query" in credentials else []
    pairs += [f"{name}={quote(value)}" for name, value in after]
    query_string = "&".join(pairs).encode()
    header_list = [(b"origin", origin)] if origin is not None else []
    offered = credentials.get("subprotocols", [])

    assert await handshake("/ws/chat/lobby/", query_string, header_list, offered) is True
