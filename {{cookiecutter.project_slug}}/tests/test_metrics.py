"""Prometheus metrics (realtime/metrics.py) count what the sockets and the channel layer do.

Served summed over several processes by deploy/gunicorn.conf.py on a port of its own:
tests/test_deployment.py scrapes it under two server processes.
"""

from prometheus_client import REGISTRY

from realtime.layers import dropped_messages
from tests.handshakes import assert_refused


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def handshakes(outcome, refused_by=""):
    return value("realtime_websocket_handshakes_total", outcome=outcome, refused_by=refused_by)


async def test_an_accepted_socket_is_counted_open_then_closed_with_its_frames(
    communicator, ws_credentials, user
):
    accepted, open_now = handshakes("accepted"), value("realtime_websockets_open")
    frames_in = value("realtime_websocket_messages_total", direction="in")
    frames_out = value("realtime_websocket_messages_total", direction="out")
    closes = value("realtime_websocket_closes_total", code="1000")
    comm = communicator("/ws/chat/lobby/", **await ws_credentials(user))

    connected, _ = await comm.connect()
    assert connected
    assert handshakes("accepted") == accepted + 1
    assert value("realtime_websockets_open") == open_now + 1
    await comm.send_json_to({"message": "hello"})
    await comm.receive_json_from()
    await comm.disconnect()

    assert value("realtime_websocket_messages_total", direction="in") == frames_in + 1
    assert value("realtime_websocket_messages_total", direction="out") == frames_out + 1
    assert value("realtime_websocket_closes_total", code="1000") == closes + 1
    assert value("realtime_websockets_open") == open_now


async def test_refusals_are_counted_by_the_check_that_refused(communicator, ws_credentials, user):
    by_origin, by_credential = handshakes("refused", "origin"), handshakes("refused", "credential")
    by_application = handshakes("refused", "application")
    credentials = await ws_credentials(user)

    await assert_refused(communicator(origin=b"https://evil.example"))
    await assert_refused(communicator())
    await assert_refused(communicator("/ws/nowhere/", **credentials))

    assert handshakes("refused", "origin") == by_origin + 1
    assert handshakes("refused", "credential") == by_credential + 1
    assert handshakes("refused", "application") == by_application + 1


async def test_channel_layer_drops_are_counted_by_reason():
    before = value("realtime_channel_layer_dropped_messages_total", reason="test")

    dropped_messages.record(3, "test")

    assert value("realtime_channel_layer_dropped_messages_total", reason="test") == before + 3
