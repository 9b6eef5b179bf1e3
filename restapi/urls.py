from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from restapi import health
from restapi.errors import not_found_view
from restapi.metrics import metrics_view
from restapi.permissions import IsAdmin


class DocsAccess(BasePermission):
    """Open with API_DOCS_PUBLIC; otherwise admins only."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return settings.API_DOCS_PUBLIC or IsAdmin().has_permission(request, view)


# An admin's JWT, or the admin site's login: a browser can then open /docs.
DOCS = {
    "permission_classes": [DocsAccess],
    "authentication_classes": [*api_settings.DEFAULT_AUTHENTICATION_CLASSES, SessionAuthentication],
}

urlpatterns = [
    path("health/live", health.LiveView.as_view()),
    path("health/ready", health.ReadyView.as_view()),
    path(
        "openapi.json",
        SpectacularJSONAPIView.as_view(**DOCS),
        name="schema",
    ),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema", **DOCS)),
    path("metrics", metrics_view),
    path("admin/", admin.site.urls),
    path("", include("users.urls")),
    path("", include("auth.urls")),
    path("", include("mfa.urls")),
    path("", include("audit.urls")),
    path("", include("userdata.urls")),
    path("", include("privacy.urls")),
    path("", include("kafka_events.urls")),
    # Anything else is a JSON 404, in DEBUG too.
    re_path(r"^", not_found_view),
]

handler400 = "restapi.errors.bad_request_view"
handler403 = "restapi.errors.permission_denied_view"
handler404 = "restapi.errors.not_found_view"
handler500 = "restapi.errors.server_error_view"
