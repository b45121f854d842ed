"""gunicorn's configuration: `gunicorn -c deploy/gunicorn.conf.py` serves config.asgi with
uvicorn's worker (the uvicorn-worker package), behind the reverse proxy of deploy/nginx.conf.

Why gunicorn over `uvicorn --workers`: its hooks. The master removes a dead worker's metric files
(prometheus-client's multiprocess mode needs that) and serves the workers' summed metrics on
METRICS_PORT; it restarts a worker that stops answering its heartbeat, and gives each a bounded
graceful stop. On SIGTERM every worker stops listening and uvicorn closes its WebSockets with 1012
(service restart), so that clients reconnect at once, through the proxy, to another process.

Read from the environment:
- GUNICORN_BIND: the address to listen on (0.0.0.0:8000; loopback when the proxy is on the host);
- WEB_CONCURRENCY: worker processes (gunicorn's own variable; default: one per CPU);
- GRACEFUL_TIMEOUT: seconds a stopping worker has for its sockets before it is killed (10);
- FORWARDED_ALLOW_IPS: the proxy addresses whose X-Forwarded-Proto and X-Forwarded-For are
  believed (gunicorn's own variable; loopback by default);
- METRICS_PORT: the port of /metrics (8001), on METRICS_BIND (0.0.0.0); empty: no metrics.
"""

import os
import shutil
import tempfile

# prometheus-client reads this when it is imported: set before, so the workers inherit it.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="prometheus-")

from prometheus_client import CollectorRegistry, multiprocess, start_http_server
from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    """uvicorn's worker with the WebSocket frame limit of WS_MAX_FRAME_BYTES when it is set."""

    CONFIG_KWARGS = {  # noqa: RUF012 (uvicorn-worker's own attribute, read once)
        **UvicornWorker.CONFIG_KWARGS,
        **(
            {"ws_max_size": int(os.environ["WS_MAX_FRAME_BYTES"])}
            if os.environ.get("WS_MAX_FRAME_BYTES")
            else {}
        ),
    }


wsgi_app = "config.asgi:application"
worker_class = Worker
bind = [os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")]
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "10"))
# uvicorn's keep-alive: longer than nginx keeps idle upstream connections (keepalive_timeout,
# 60 s), so that nginx never reuses a connection the worker is closing (a 502).
keepalive = 75
# Heartbeat files in memory: a container's /tmp may be on a slow overlay filesystem.
SHARED_MEMORY = "/dev/shm"  # noqa: S108 (gunicorn's documented choice, not a temporary file)
worker_tmp_dir = SHARED_MEMORY if os.path.isdir(SHARED_MEMORY) else None
# uvicorn's access lines go through the project's LOGGING (credentials redacted, health checks
# quiet); gunicorn's own access log would duplicate them.
accesslog = None
# No control socket (gunicorn 27's runtime management): nothing here uses it.
control_socket_disable = True


def on_starting(server):
    """Metric files left by an earlier run would be summed with this one's."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


def workers_metrics():
    """The registry /metrics serves: the values every worker wrote to PROMETHEUS_MULTIPROC_DIR,
    summed; live gauges (open sockets) only of the workers not marked dead (`child_exit`)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def when_ready(server):
    port = os.environ.get("METRICS_PORT", "8001")
    if port:
        address = os.environ.get("METRICS_BIND", "0.0.0.0")  # noqa: S104 (a container's port)
        start_http_server(int(port), addr=address, registry=workers_metrics())


def child_exit(server, worker):
    """A dead worker's live gauges leave the sum; its counters stay in it."""
    multiprocess.mark_process_dead(worker.pid)
