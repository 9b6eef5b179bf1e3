from django.core.exceptions import ImproperlyConfigured

from restapi.env import env_bool, env_int, env_path, env_str

# 1 stores user files in S3 (the seed had this switch inverted); 0 in USER_DATA_DIR.
S3_DATA_UPLOAD_TO_S3 = env_bool("S3_DATA_UPLOAD_TO_S3", default=False)
S3_DATA_BUCKET = env_str("S3_DATA_BUCKET")
S3_DATA_PREFIX = env_str("S3_DATA_PREFIX", "restapi/userdata").strip("/")
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
S3_CONNECT_TIMEOUT_SECONDS = env_int("S3_CONNECT_TIMEOUT_SECONDS", 5)
S3_READ_TIMEOUT_SECONDS = env_int("S3_READ_TIMEOUT_SECONDS", 60)

USER_DATA_DIR = env_path("USER_DATA_DIR", "./var/userdata")
USER_DATA_MAX_BYTES = env_int("USER_DATA_MAX_BYTES", 1024**3)
# Total bytes one user may store; 0 means no quota.
USER_DATA_QUOTA_BYTES = env_int("USER_DATA_QUOTA_BYTES", 0)

if S3_DATA_UPLOAD_TO_S3 and S3_DATA_BUCKET in ("", "YOUR_BUCKET"):
    raise ImproperlyConfigured("S3_DATA_UPLOAD_TO_S3=1 needs S3_DATA_BUCKET")
