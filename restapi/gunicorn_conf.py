"""gunicorn settings: HTTPS on API_ENDPOINT with keep-alive, from the seed's variables.

Run with `gunicorn -c restapi/gunicorn_conf.py restapi.wsgi`.
"""

import multiprocessing
import ssl

from restapi.env import env_bool, env_int, env_path, env_str

bind = [env_str("API_ENDPOINT", "0.0.0.0:3000")]

# gthread keeps TLS keep-alive connections open without tying up a worker process.
worker_class = "gthread"
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

certfile = str(env_path("API_TLS_CERT", "./certs/tls/api/api.crt"))
keyfile = str(env_path("API_TLS_KEY", "./certs/tls/api/api.key"))
if env_bool("API_TLS_CLIENT_AUTH"):
    ca_certs = str(env_path("API_TLS_CA", "./certs/tls/api/api-ca.pem"))
    cert_reqs = ssl.CERT_REQUIRED

accesslog = env_str("API_ACCESS_LOG", "-")
# The path without its query string: verification links carry single-use tokens there.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
errorlog = "-"
loglevel = env_str("LOG_LEVEL", "info").lower()


def worker_exit(server: object, worker: object) -> None:
    """Graceful shutdown: finish the current outbox batch and flush what is in flight."""
    from kafka_events.producer import publisher

    publisher.stop(timeout=graceful_timeout / 2)
