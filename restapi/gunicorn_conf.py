"""gunicorn settings: HTTPS on API_ENDPOINT with keep-alive, from the Rust service's variables.

Run with `gunicorn -c restapi/gunicorn_conf.py restapi.wsgi`.
"""

import multiprocessing
import os
import shutil
import ssl
import tempfile
from typing import Any

from restapi.env import api_tls, env_int, env_str

bind = [env_str("API_ENDPOINT", "0.0.0.0:3000")]

# gthread keeps TLS keep-alive connections open without tying up a worker process; this
# one also bounds how long a stalled client can hold a thread (API_READ_TIMEOUT_SECONDS).
worker_class = "restapi.gunicorn_worker.ThreadWorker"
workers = env_int("API_WORKERS", multiprocessing.cpu_count())
threads = env_int("API_THREADS", 8)
keepalive = env_int("API_KEEPALIVE_SECONDS", 30)
timeout = env_int("API_TIMEOUT_SECONDS", 60)
graceful_timeout = env_int("API_GRACEFUL_TIMEOUT_SECONDS", 30)

# Upload metadata may be spelled `data_type` as well as `data-type`; gunicorn drops
# underscore headers unless told otherwise. Mapping both spellings to one name only
# matters for headers we trust from proxies (X-Forwarded-For), so it is allowed only
# when no proxy is trusted (TRUSTED_PROXY_COUNT=0); behind proxies, send dashes.
header_map = "dangerous" if env_int("TRUSTED_PROXY_COUNT", 0) == 0 else "drop"

# gunicorn (25+) would open a control socket for `gunicornc` at one path per user
# ($XDG_RUNTIME_DIR or ~/.gunicorn/gunicorn.ctl): a second instance on the host takes the
# first one's path over, and any process of the same user could resize or stop workers
# through it. Nothing here uses it (the service is run by its supervisor and signals).
control_socket_disable = True

tls = api_tls()
certfile, keyfile = str(tls.cert), str(tls.key)
if tls.client_auth:
    ca_certs = str(tls.ca)
    cert_reqs = ssl.CERT_REQUIRED

accesslog = env_str("API_ACCESS_LOG", "-")
logger_class = "restapi.gunicorn_logging.ServiceLogger"
errorlog = "-"
loglevel = env_str("LOG_LEVEL", "info").lower()

# Metrics from every worker are summed at /metrics (prometheus_client multiprocess mode):
# each process writes its values under this directory, fresh for each server start.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="restapi-metrics-"))


def on_starting(server: object) -> None:
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


def child_exit(server: object, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def worker_exit(server: object, worker: object) -> None:
    """Graceful shutdown: the apps finish their work in flight (the outbox publisher its
    current batch)."""
    from restapi.lifecycle import worker_stopping

    worker_stopping.send(sender=None, timeout=graceful_timeout / 2)
