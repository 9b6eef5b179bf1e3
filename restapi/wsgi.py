import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "restapi.settings")

application = get_wsgi_application()

from django.conf import settings  # noqa: E402

from restapi.lifecycle import worker_started  # noqa: E402
from restapi.memory import return_blocks_of  # noqa: E402

# A password hash's memory is given back when it is done (restapi/memory.py).
return_blocks_of(settings.PASSWORD_ARGON2_MEMORY_KIB * 1024)

# Each gunicorn worker imports this module after fork: what must run in the worker
# process itself (the storage client, the outbox publisher's threads) starts now.
worker_started.send(sender=None)
