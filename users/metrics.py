from prometheus_client import Counter, Histogram

LOGINS = Counter("restapi_logins_total", "Login attempts by outcome", ["outcome"])
HASH_SECONDS = Histogram(
    "restapi_password_hash_seconds",
    "Time of one argon2 computation",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
