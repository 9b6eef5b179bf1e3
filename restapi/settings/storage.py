from django.core.exceptions import ImproperlyConfigured

from restapi.env import env_bool, env_float, env_int, env_path, env_str


def _positive(name: str, default: int) -> int:
    value = env_int(name, default)
    if value < 1:
        raise ImproperlyConfigured(f"{name} must be at least 1, got {value}")
    return value


# 1 stores user files in S3 (the Rust service had this switch inverted); 0 in USER_DATA_DIR.
S3_DATA_UPLOAD_TO_S3 = env_bool("S3_DATA_UPLOAD_TO_S3", default=False)
S3_DATA_BUCKET = env_str("S3_DATA_BUCKET")
# The Rust service's prefix. A row keeps the key it was stored under, so changing this
# moves only new uploads (README: what reconcile_storage then needs).
S3_DATA_PREFIX = env_str("S3_DATA_PREFIX", "user/data/file").strip("/")
S3_STORAGE_CLASS = env_str("S3_STORAGE_CLASS", "STANDARD")
S3_REGION = (
    env_str("S3_REGION") or env_str("AWS_REGION") or env_str("AWS_DEFAULT_REGION", "us-east-1")
)
# For S3-compatible servers (MinIO, Ceph, moto); unset for AWS.
S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL") or None
S3_PRESIGNED_DOWNLOADS = env_bool("S3_PRESIGNED_DOWNLOADS", default=False)
S3_PRESIGNED_URL_EXPIRY_SECONDS = env_int("S3_PRESIGNED_URL_EXPIRY_SECONDS", 300)
# Multipart part size and parallel parts per upload: memory per upload is about their product.
S3_MULTIPART_CHUNK_BYTES = env_int("S3_MULTIPART_CHUNK_BYTES", 8 * 1024 * 1024)
S3_MAX_CONCURRENCY = env_int("S3_MAX_CONCURRENCY", 2)
# A storage that stops answering fails a transfer after one of these (a call that timed out
# is not retried). They bound silence, not a transfer's length: each socket read or write
# may wait this long, so a multi-GB transfer that keeps moving is never cut off. The read
# timeout stays above the 10 s at which MinIO keeps a slow CompleteMultipartUpload alive.
S3_CONNECT_TIMEOUT_SECONDS = _positive("S3_CONNECT_TIMEOUT_SECONDS", 3)
S3_READ_TIMEOUT_SECONDS = _positive("S3_READ_TIMEOUT_SECONDS", 12)
# Attempts per S3 call for errors that come back at once (refused, reset, 5xx, throttled).
S3_MAX_ATTEMPTS = _positive("S3_MAX_ATTEMPTS", 3)

USER_DATA_DIR = env_path("USER_DATA_DIR", "./var/userdata")
USER_DATA_MAX_BYTES = env_int("USER_DATA_MAX_BYTES", 1024**3)
# Total bytes one user may store; 0 means no quota.
USER_DATA_QUOTA_BYTES = env_int("USER_DATA_QUOTA_BYTES", 0)
# Uploads and downloads one process streams at once, a third of the request threads; as
# many more may wait USER_DATA_TRANSFER_WAIT_SECONDS for a slot, past that 503. Slow or hung
# transfers hold at most two thirds of the threads, and a burst of quick ones is not refused.
USER_DATA_MAX_TRANSFERS = _positive(
    "USER_DATA_MAX_TRANSFERS", max(1, env_int("API_THREADS", 8) // 3)
)
USER_DATA_TRANSFER_WAIT_SECONDS = env_float("USER_DATA_TRANSFER_WAIT_SECONDS", 0.5)

if S3_DATA_UPLOAD_TO_S3 and S3_DATA_BUCKET in ("", "YOUR_BUCKET"):
    raise ImproperlyConfigured("S3_DATA_UPLOAD_TO_S3=1 needs S3_DATA_BUCKET")
