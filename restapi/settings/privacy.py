from django.core.exceptions import ImproperlyConfigured

from restapi.env import env_bool, env_int

# A ready export can be downloaded this long; then its archive and row are deleted.
USER_EXPORT_TTL_SECONDS = env_int("USER_EXPORT_TTL_SECONDS", 86400)
# Attempts at an export before it is given up (failed): storage down, a runner that died.
USER_EXPORT_MAX_ATTEMPTS = env_int("USER_EXPORT_MAX_ATTEMPTS", 5)
# Between an erasure's request and the hard deletion: a mistake can still be undone
# (manage.py erase_user --cancel), and the account is deactivated meanwhile.
USER_ERASE_GRACE_SECONDS = env_int("USER_ERASE_GRACE_SECONDS", 7 * 86400)
# The export and erasure jobs run in every web worker (one thread each) unless this is 0;
# `manage.py privacy_jobs` runs them instead (a CronJob, a separate Deployment).
PRIVACY_JOBS_FROM_WEB = env_bool("PRIVACY_JOBS_FROM_WEB", default=True)
# How often an idle runner looks for due jobs (a new export in this process wakes it).
PRIVACY_JOBS_IDLE_SECONDS = env_int("PRIVACY_JOBS_IDLE_SECONDS", 10)
# A running job renews its hold this often at least; a job not renewed for this long is
# taken to have lost its runner (a killed worker) and is resumed by another.
PRIVACY_JOB_LEASE_SECONDS = env_int("PRIVACY_JOB_LEASE_SECONDS", 120)

for _name in ("USER_EXPORT_TTL_SECONDS", "USER_EXPORT_MAX_ATTEMPTS", "PRIVACY_JOB_LEASE_SECONDS"):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1, got {globals()[_name]}")
if USER_ERASE_GRACE_SECONDS < 0:
    raise ImproperlyConfigured(
        f"USER_ERASE_GRACE_SECONDS must be 0 or more, got {USER_ERASE_GRACE_SECONDS}"
    )
