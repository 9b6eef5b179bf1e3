"""The product's settings with a one-view URLconf: the baseline for bench/http.sh."""

from restapi.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bare_urls"
