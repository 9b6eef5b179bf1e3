"""The container's health check (`python -m restapi.healthcheck`, deploy/Dockerfile): exit
status 0 when the server on API_ENDPOINT answers /health/live.

It sends the first of DJANGO_ALLOWED_HOSTS as Host: with DEBUG=0 no other is answered.
With API_TLS_CLIENT_AUTH=1 the server takes no connection without a client certificate,
which the check has none of: it then only checks that the port accepts connections.
"""

import http.client
import socket
import ssl
import sys

from restapi.env import env_bool, env_list, env_str


def healthy() -> bool:
    host, _, port = env_str("API_ENDPOINT", "0.0.0.0:3000").rpartition(":")
    address = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104
    try:
        if env_bool("API_TLS_CLIENT_AUTH"):
            socket.create_connection((address, int(port)), timeout=2).close()
            return True
        # The certificate names the public host, not this address: like the kubelet's
        # HTTPS probes, the check does not verify it.
        context = ssl._create_unverified_context()  # noqa: S323
        connection = http.client.HTTPSConnection(address, int(port), timeout=2, context=context)
        hosts = env_list("DJANGO_ALLOWED_HOSTS") or ["localhost"]
        allowed = hosts[0].lstrip("*.") or "localhost"
        connection.request("GET", "/health/live", headers={"Host": allowed})
        return connection.getresponse().status == 200
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(0 if healthy() else 1)
