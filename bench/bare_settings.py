"""The no-middleware reference: the product's settings with no middleware, no database and
one JSON view (bench/bare_urls.py), served by the same gunicorn configuration over TLS."""

from restapi.settings import *  # noqa: F403

MIDDLEWARE = []
DATABASES = {}
ROOT_URLCONF = "bench.bare_urls"
