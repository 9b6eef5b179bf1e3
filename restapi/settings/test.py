"""The test suite's settings (pyproject.toml): development's, on PostgreSQL.

Values still come from the environment first, as the servers and commands the tests start
read the same environment. scripts/test.sh finds or starts the PostgreSQL server and
exports POSTGRES_ENDPOINT.
"""

from django.core.exceptions import ImproperlyConfigured

from restapi.env import env_str
from restapi.settings import *

if not DEBUG:
    # Production's settings are tested in subprocesses of their own (tests/test_settings.py).
    raise ImproperlyConfigured("The tests run with DEBUG=1")
if not POSTGRES_ENDPOINT:
    raise ImproperlyConfigured(
        "The tests run on PostgreSQL: set POSTGRES_ENDPOINT (scripts/test.sh does)"
    )

# A local cluster's superuser, as scripts/test.sh's throwaway cluster makes it. The
# database is only where pytest-django connects to make the test database.
DATABASES["default"]["USER"] = env_str("POSTGRES_USERNAME", "postgres")
DATABASES["default"]["NAME"] = env_str("DB_NAME", "restapi")
