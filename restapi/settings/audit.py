from django.core.exceptions import ImproperlyConfigured

from restapi.env import env_int

# Audit entries older than this many days are deleted by `manage.py purge_expired`.
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 365)
if AUDIT_RETENTION_DAYS < 1:
    # 0 would delete the whole trail at every purge.
    raise ImproperlyConfigured(
        f"AUDIT_RETENTION_DAYS must be at least 1, got {AUDIT_RETENTION_DAYS}"
    )
