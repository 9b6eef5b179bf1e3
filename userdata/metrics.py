from prometheus_client import Counter

UPLOAD_BYTES = Counter("restapi_upload_bytes_total", "Bytes of user files stored")
