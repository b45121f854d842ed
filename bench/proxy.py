"""nginx with the baked project's deploy/nginx.conf in front of the server under test
(`ws_bench.py --through-proxy`).

The configuration is rewritten for loopback exactly as the project's own deployment test does it:
by the project's tests/nginx_loopback.py, loaded here by its path (the project's `tests` package is
not importable from the benchmark, and need not be). nginx is Debian's (/usr/sbin/nginx), started
in the foreground and stopped by its pid. Its CPU time is its master's and workers', read from
/proc like the server's.
"""

import contextlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.server import Server, cpu_seconds, free_port, stop, wait_until_listening

NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None
)


def load_nginx_loopback(project: Path):
    """The project's tests/nginx_loopback.py, as a module."""
    path = project / "tests" / "nginx_loopback.py"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: --through-proxy needs a project that ships it")
    spec = importlib.util.spec_from_file_location("bench_project_nginx_loopback", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def children(pid: int) -> list[int]:
    """The pids of a process's children (nginx's workers), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


class ProxiedServer(Server):
    """The same server, reached through nginx. Its CPU time is the server's plus nginx's (the
    cost of the topology); its RSS is the server's."""

    def __init__(self, project: Path, upstream: Server):
        if NGINX is None:
            raise RuntimeError("--through-proxy needs nginx (apt-get install nginx)")
        super().__init__(f"http://127.0.0.1:{free_port()}", upstream.pid)
        self.project = project
        self.upstream = upstream
        self.process = None
        self.nginx_pids = []

    def cpu_seconds(self) -> float | None:
        server = self.upstream.cpu_seconds()
        if server is None:
            return None
        nginx = 0.0
        for pid in self.nginx_pids:
            with contextlib.suppress(OSError):  # a worker that has exited
                nginx += cpu_seconds(pid)
        return server + nginx

    def __enter__(self):
        self.workdir = Path(tempfile.mkdtemp(prefix="ws-bench-nginx-"))
        upstream_port = int(self.upstream.http_url.rpartition(":")[2])
        listen_port = int(self.http_url.rpartition(":")[2])
        config = load_nginx_loopback(self.project).nginx_config(
            self.workdir, listen_port, [upstream_port], self.workdir / "static"
        )
        command = [NGINX, "-p", str(self.workdir), "-c", str(config)]
        command += ["-e", str(self.workdir / "error.log"), "-g", "daemon off;"]
        self.log = (self.workdir / "nginx.log").open("a+b")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until_listening(self.process, listen_port, self.output)
        # Its workers, forked before it listens: every process whose CPU the proxy costs.
        deadline = time.monotonic() + 5
        while len(self.nginx_pids) < 2 and time.monotonic() < deadline:
            self.nginx_pids = [self.process.pid, *children(self.process.pid)]
            time.sleep(0.05)
        return self

    def __exit__(self, *exc_info):
        stop(self.process)  # SIGTERM: nginx's fast shutdown
        self.log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def output(self) -> str:
        self.log.seek(0)
        error_log = self.workdir / "error.log"
        errors = error_log.read_text(errors="replace") if error_log.exists() else ""
        return self.log.read().decode(errors="replace") + errors
