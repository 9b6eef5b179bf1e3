import time
from collections.abc import Iterator

from django.core.exceptions import ImproperlyConfigured
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from auth.keys import key_ring

LOCKOUTS = Counter("restapi_login_lockouts_total", "Login attempts refused by the account wait")
TOKENS_ISSUED = Counter("restapi_tokens_issued_total", "Tokens issued", ["kind"])
SESSIONS_REVOKED = Counter("restapi_sessions_revoked_total", "Sessions revoked", ["reason"])


class SigningKeyCollector(Collector):
    """How old the JWT signing key is: read at scrape time, so a rotated key shows at the
    next scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            created = key_ring().signer.created
        except (ImproperlyConfigured, ValueError):
            # A process that signs nothing (the relay) may have no keys mounted.
            return
        yield GaugeMetricFamily(
            "restapi_jwt_signing_key_age_seconds",
            "Time since the JWT signing key was made",
            value=time.time() - created,
        )
