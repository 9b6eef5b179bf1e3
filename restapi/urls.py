from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny, BasePermission

from kafka_events.views import IsAdmin
from restapi import health
from restapi.errors import not_found_view
from restapi.metrics import metrics_view

DOCS_ACCESS: list[type[BasePermission]] = [AllowAny] if settings.API_DOCS_PUBLIC else [IsAdmin]

urlpatterns = [
    path("health/live", health.LiveView.as_view()),
    path("health/ready", health.ReadyView.as_view()),
    path(
        "openapi.json",
        SpectacularJSONAPIView.as_view(permission_classes=DOCS_ACCESS),
        name="schema",
    ),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema", permission_classes=DOCS_ACCESS)),
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
