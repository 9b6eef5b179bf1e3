from prometheus_client import Counter

# outcome: ready, retried (storage failed; tried again later), failed (out of attempts),
# expired (deleted after USER_EXPORT_TTL_SECONDS)
EXPORTS = Counter("restapi_exports_total", "Data exports by outcome", ["outcome"])
# outcome: requested, cancelled, retried (storage failed; tried again later), completed
ERASURES = Counter("restapi_erasures_total", "Account erasures by outcome", ["outcome"])
