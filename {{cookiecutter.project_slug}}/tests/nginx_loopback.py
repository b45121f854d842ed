"""deploy/nginx.conf rewritten to run on loopback, as this user, writing under one directory: what
tests/test_deployment.py runs in front of its gunicorn processes, and what the template's
benchmark (bench/ws_bench.py --through-proxy) runs in front of its server. No Django and no
pytest here: the benchmark loads this file by its path.
"""

import getpass
import re
from pathlib import Path

DEPLOY_DIR = Path(__file__).resolve().parent.parent / "deploy"
# Beside the configuration in the image; the Debian package's here.
NGINX_MIME_TYPES = "/etc/nginx/mime.types"


def nginx_config(workdir, listen_port, upstream_ports, static_root, source=None):
    """deploy/nginx.conf (or `source`), listening on loopback, in front of `upstream_ports`,
    writing under `workdir`, and serving the static files collected into `static_root` (as the
    image does) with the system's mime.types, as this user (a worker started by root would be
    `nobody`, who cannot read a private temporary directory). Returns the written file's path."""
    workdir = Path(workdir)
    text = Path(source or DEPLOY_DIR / "nginx.conf").read_text()
    replacements = [
        (r"worker_processes auto;", f"user {getpass.getuser()};\nworker_processes auto;"),
        (r"alias /srv/static/;", f"alias {static_root}/;"),
        (r"include mime.types;", f"include {NGINX_MIME_TYPES};"),
        (r"listen 80;", f"listen 127.0.0.1:{listen_port};"),
        (
            r"server app:8000 max_fails=0;",
            " ".join(f"server 127.0.0.1:{port} max_fails=0;" for port in upstream_ports),
        ),
        (r"access_log /var/log/nginx/access.log", f"access_log {workdir}/access.log"),
        (r"pid /tmp/nginx.pid;", f"pid {workdir}/nginx.pid;"),
        (
            r"http \{",
            "http {\n"
            + "".join(
                f"    {kind}_temp_path {workdir}/{kind};\n"
                for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            ),
        ),
    ]
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text)
        assert count == 1, f"deploy/nginx.conf no longer has {pattern!r}"
    path = workdir / "nginx.conf"
    path.write_text(text)
    return path
