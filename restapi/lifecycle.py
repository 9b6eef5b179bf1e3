"""A serving process's start and end, for the apps' background parts (the storage client,
the outbox publisher). restapi/ names no app: each connects its receivers in its
AppConfig.ready()."""

from django.dispatch import Signal

# Sent by each gunicorn worker after fork, once Django is set up (restapi/wsgi.py).
worker_started = Signal()
# Sent by a worker shutting down gracefully; kwargs: timeout (seconds it may take).
worker_stopping = Signal()
