"""With SECURE_SSL_REDIRECT on, an unencrypted handshake (plain ws://) is refused
(realtime/transport_security.py); a proxy's word on the scheme counts only when configured."""

import pytest

from tests.handshakes import assert_refused


@pytest.fixture
async def handshake(communicator, ws_credentials, user):
    """`await handshake(scheme, headers)` -> a communicator that authenticates `user`, its scope
    given that scheme and these extra headers (as the ASGI server would set them)."""

    async def make(scheme, headers=()):
        comm = communicator(**await ws_credentials(user))
        comm.scope["scheme"] = scheme  # read when the application runs, at connect()
        comm.scope["headers"] = [*comm.scope["headers"], *headers]
        return comm

    return make


FORWARDED_HTTPS = [(b"x-forwarded-proto", b"https")]


async def test_plain_ws_is_refused_when_https_is_forced(settings, handshake):
    comm = await handshake("ws")
    settings.SECURE_SSL_REDIRECT = True

    await assert_refused(comm)


async def test_wss_is_accepted_when_https_is_forced(settings, handshake):
    comm = await handshake("wss")
    settings.SECURE_SSL_REDIRECT = True

    connected, _ = await comm.connect()

    assert connected


async def test_a_forwarded_scheme_is_ignored_unless_the_proxy_header_is_configured(
    settings, handshake
):
    comm = await handshake("ws", FORWARDED_HTTPS)
    settings.SECURE_SSL_REDIRECT = True

    await assert_refused(comm)


async def test_a_forwarded_scheme_counts_when_the_proxy_header_is_configured(settings, handshake):
    accepted = await handshake("ws", FORWARDED_HTTPS)
    downgraded = await handshake("wss", [(b"x-forwarded-proto", b"http")])
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    connected, _ = await accepted.connect()

    assert connected
    await assert_refused(downgraded)


async def test_plain_ws_is_accepted_when_https_is_not_forced(settings, handshake):
    comm = await handshake("ws")
    settings.SECURE_SSL_REDIRECT = False

    connected, _ = await comm.connect()

    assert connected
