from django.core.exceptions import ImproperlyConfigured

from restapi.env import env_bool, env_float, env_int, env_list, env_optional_path, env_str

# As in the Rust service: KAFKA_ENABLED runs the producer pool, KAFKA_PUBLISH_EVENTS publishes user
# events. Events are written to the outbox only when both are on.
KAFKA_ENABLED = env_bool("KAFKA_ENABLED", default=False)
KAFKA_PUBLISH_EVENTS = env_bool("KAFKA_PUBLISH_EVENTS", default=False)
KAFKA_PUBLISH_READ_EVENTS = env_bool("KAFKA_PUBLISH_READ_EVENTS", default=False)
# 0 leaves publishing to a separate `manage.py kafka_relay` (the web workers only write rows).
KAFKA_PUBLISH_FROM_WEB = env_bool("KAFKA_PUBLISH_FROM_WEB", default=True)
# host:port where `manage.py kafka_relay` serves its own /metrics (HTTPS); unset: none.
KAFKA_RELAY_METRICS_ENDPOINT = env_str("KAFKA_RELAY_METRICS_ENDPOINT")
KAFKA_LOG_LABEL = env_str("KAFKA_LOG_LABEL", "restapi")
KAFKA_BROKERS = env_str("KAFKA_BROKERS")
KAFKA_TOPICS = env_list("KAFKA_TOPICS")
KAFKA_USER_EVENTS_TOPIC = env_str("KAFKA_USER_EVENTS_TOPIC", "user.events")
# The Rust service's thread pool defaults (kafka-threadpool): 5 threads, idle 0.5 s.
KAFKA_NUM_THREADS = env_int("KAFKA_NUM_THREADS", 5)
KAFKA_PUBLISH_RETRY_INTERVAL_SEC = env_float("KAFKA_PUBLISH_RETRY_INTERVAL_SEC", 1.0)
KAFKA_PUBLISH_IDLE_INTERVAL_SEC = env_float("KAFKA_PUBLISH_IDLE_INTERVAL_SEC", 0.5)
# How long librdkafka keeps trying one message before its delivery report says it failed.
KAFKA_MESSAGE_TIMEOUT_MS = env_int("KAFKA_MESSAGE_TIMEOUT_MS", 30000)
KAFKA_OUTBOX_BATCH = env_int("KAFKA_OUTBOX_BATCH", 500)
KAFKA_OUTBOX_RETENTION_HOURS = env_int("KAFKA_OUTBOX_RETENTION_HOURS", 24)
# TLS to the brokers when the CA is set; mTLS when the client certificate and key are too.
KAFKA_TLS_CLIENT_CA = env_optional_path("KAFKA_TLS_CLIENT_CA")
KAFKA_TLS_CLIENT_CERT = env_optional_path("KAFKA_TLS_CLIENT_CERT")
KAFKA_TLS_CLIENT_KEY = env_optional_path("KAFKA_TLS_CLIENT_KEY")

if KAFKA_ENABLED and not KAFKA_BROKERS:
    raise ImproperlyConfigured("KAFKA_ENABLED=1 needs KAFKA_BROKERS")
