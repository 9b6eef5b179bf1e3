"""The product's settings with a one-view URLconf: the baseline for bench/http.sh."""

from restapi.settings import *

ROOT_URLCONF = "bench.bare_urls"
