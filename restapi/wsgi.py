import os

from django.core.wsgi import get_wsgi_application

from restapi.memory import return_large_blocks

return_large_blocks()

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "restapi.settings")

application = get_wsgi_application()

# Each gunicorn worker imports this module after fork: make the storage client now
# (botocore loads its service models, tens of MiB) rather than in the first upload.
from userdata import storage  # noqa: E402

storage.backend()

# The outbox publisher threads, in this worker process (librdkafka does not survive fork).
from django.conf import settings  # noqa: E402

from kafka_events.producer import publisher  # noqa: E402

if settings.KAFKA_ENABLED and settings.KAFKA_PUBLISH_FROM_WEB:
    publisher.start()
