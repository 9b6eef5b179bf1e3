import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "restapi.settings")

application = get_wsgi_application()

# Each gunicorn worker imports this module after fork: make the storage client now
# (botocore loads its service models, tens of MiB) rather than in the first upload.
from userdata import storage  # noqa: E402

storage.backend()

from django.conf import settings  # noqa: E402

from restapi.memory import return_blocks_of  # noqa: E402

# A password hash's memory is given back when it is done (restapi/memory.py).
return_blocks_of(settings.PASSWORD_ARGON2_MEMORY_KIB * 1024)

# The outbox publisher threads, in this worker process (librdkafka does not survive fork).
from kafka_events.producer import publisher  # noqa: E402

if settings.KAFKA_ENABLED and settings.KAFKA_PUBLISH_FROM_WEB:
    publisher.start()
