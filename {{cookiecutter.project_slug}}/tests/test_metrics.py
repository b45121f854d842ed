"""Prometheus metrics (realtime/metrics.py) count what the sockets and the channel layer do.

Served summed over several processes by deploy/gunicorn.conf.py on a port of its own: here, the
sum over worker processes and the end of a dead worker's open sockets; tests/test_deployment.py
scrapes it under two gunicorn instances.
"""

import runpy
import subprocess
import sys
from types import SimpleNamespace

from prometheus_client import REGISTRY

from realtime.layers import dropped_messages
from tests.handshakes import assert_refused
from tests.live_server import PROJECT_DIR

# A worker process: counts handshakes and open sockets (argv), says so, and exits when its stdin
# closes.
WORKER = """\
import sys
from realtime.metrics import HANDSHAKES, OPEN
HANDSHAKES.labels("accepted", "").inc(int(sys.argv[1]))
OPEN.inc(int(sys.argv[2]))
print("counted", flush=True)
sys.stdin.read()
"""


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


def test_workers_are_summed_and_a_dead_workers_open_sockets_leave_the_sum(tmp_path, monkeypatch):
    # What gunicorn's master does: the directory set before the workers start, the registry it
    # serves, and its child_exit hook when a worker dies.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    config = runpy.run_path(str(PROJECT_DIR / "deploy" / "gunicorn.conf.py"))

    def served(name, **labels):
        return config["workers_metrics"]().get_sample_value(name, labels)

    def accepted_handshakes():
        return served("realtime_websocket_handshakes_total", outcome="accepted", refused_by="")

    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(accepted), str(open_now)],
            cwd=PROJECT_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for accepted, open_now in ((2, 7), (3, 4))
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline() == "counted\n"
        assert accepted_handshakes() == 5
        assert served("realtime_websockets_open") == 11

        dead = workers[0]
        dead.stdin.close()
        assert dead.wait(30) == 0
        config["child_exit"](None, SimpleNamespace(pid=dead.pid))

        assert accepted_handshakes() == 5
        assert served("realtime_websockets_open") == 4
    finally:
        for worker in workers:
            if not worker.stdin.closed:
                worker.stdin.close()
            worker.wait(30)
            worker.stdout.close()
