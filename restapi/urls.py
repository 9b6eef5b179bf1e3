from django.contrib import admin
from django.urls import include, path, re_path

from restapi import health
from restapi.errors import not_found_view
from restapi.metrics import metrics_view

urlpatterns = [
    path("health/live", health.live),
    path("health/ready", health.ready),
    path("metrics", metrics_view),
    path("admin/", admin.site.urls),
    path("", include("users.urls")),
    path("", include("auth.urls")),
    path("", include("userdata.urls")),
    path("", include("kafka_events.urls")),
    # Anything else is a JSON 404, in DEBUG too.
    re_path(r"^", not_found_view),
]

handler400 = "restapi.errors.bad_request_view"
handler403 = "restapi.errors.permission_denied_view"
handler404 = "restapi.errors.not_found_view"
handler500 = "restapi.errors.server_error_view"
