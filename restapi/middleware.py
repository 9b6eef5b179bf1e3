import logging
import uuid
from collections.abc import Awaitable, Callable

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

from restapi.clients import request_origin
from restapi.codes import ErrorCode
from restapi.context import REQUEST_CONTEXT, RequestContext, actor_set
from restapi.errors import (
    bad_request_view,
    error_response,
    not_found_view,
    permission_denied_view,
    server_error_view,
)
from restapi.exceptions import PayloadTooLarge
from restapi.requestid import REQUEST_ID, REQUEST_ID_META, REQUEST_ID_PATTERN

logger = logging.getLogger(__name__)


class JsonErrorMiddleware:
    """Answers what a view raises (DRF's views answer their own): Django's 404, 403 and
    400 exceptions with those statuses, a database outage with 503, anything else with
    the 500 body. In DEBUG too: never Django's debug pages or a stack trace. Under /admin/
    these are plain HTML pages (restapi.errors.error_response)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse:
        if isinstance(exception, Http404):
            return not_found_view(request)
        if isinstance(exception, PermissionDenied):
            return permission_denied_view(request)
        if isinstance(exception, SuspiciousOperation):
            # As Django reports them (e.g. too many form fields in an admin POST).
            logging.getLogger(f"django.security.{type(exception).__name__}").error(
                "%s", exception, extra={"status_code": 400, "request": request}
            )
            return bad_request_view(request)
        if isinstance(exception, BadRequest):
            return bad_request_view(request)
        if isinstance(exception, OperationalError | InterfaceError):
            # The database is down or unreachable: a dependency, not a bug.
            logger.error(
                "Database unavailable on %s %s: %s", request.method, request.path, exception
            )
            response = error_response(
                request,
                status_code=503,
                msg="The service is temporarily unavailable; retry later.",
                code=ErrorCode.DATABASE_UNAVAILABLE,
            )
            response["Retry-After"] = "5"
            return response
        logger.error("Unhandled error on %s %s", request.method, request.path, exc_info=exception)
        return server_error_view(request)


class JsonBodyLimitMiddleware:
    """413 for bodies over JSON_BODY_MAX_BYTES, from Content-Length, before anything reads them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (request.method, request.path) in settings.STREAMED_BODY_ROUTES:
            return self.get_response(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(
                request, status_code=400, msg="Invalid Content-Length.", code=ErrorCode.BAD_REQUEST
            )
        if length > settings.JSON_BODY_MAX_BYTES:
            return error_response(
                request,
                status_code=PayloadTooLarge.status_code,
                msg=str(PayloadTooLarge.default_detail),
                code=PayloadTooLarge.default_code,
            )
        return self.get_response(request)


class RequestIdMiddleware:
    """Takes a sane X-Request-ID from the client (or makes one), returns it, and puts it
    on every log line of the request (restapi/logformat.py) and in the access log. It
    also opens the request's context (restapi/context.py) for the audit trail."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = given if REQUEST_ID_PATTERN.match(given) else uuid.uuid4().hex
        request.META[REQUEST_ID_META] = request_id
        token = REQUEST_ID.set(request_id)
        context = REQUEST_CONTEXT.set(
            RequestContext(**request_origin(request), request_id=request_id)
        )
        try:
            response = self.get_response(request)
        finally:
            REQUEST_CONTEXT.reset(context)
            REQUEST_ID.reset(token)
        response["X-Request-ID"] = request_id
        return response


# The paths that use Django's sessions: the admin, and the API docs an admin logged in to
# it may open in the same browser (restapi.urls.DOCS).
ADMIN_PATHS = ("/admin/", "/docs", "/openapi.json")


class AdminPathsOnly(MiddlewareMixin):
    """Runs the middleware it is mixed into for ADMIN_PATHS only: the API's requests do
    not pay for sessions, a lazy user and messages they never use. (CSRF stays on every
    path: it costs little where views are exempt, as DRF's are, and check --deploy
    wants Django's own middleware.)"""

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if request.path_info.startswith(ADMIN_PATHS):
            return super().__call__(request)
        return self.get_response(request)


class AdminSessionMiddleware(AdminPathsOnly, SessionMiddleware):
    pass


class AdminAuthenticationMiddleware(AdminPathsOnly, AuthenticationMiddleware):
    pass


class AdminMessageMiddleware(AdminPathsOnly, MessageMiddleware):
    pass


class AdminActorMiddleware(AdminPathsOnly):
    """Names the admin site's logged-in user as the request's actor, for the audit trail
    of what they do there (the API's actor is set by its JWT authentication)."""

    def process_request(self, request: HttpRequest) -> None:
        user = request.user
        if user.is_authenticated:
            actor_set(actor_id=user.pk, is_admin=bool(getattr(user, "is_admin", False)))
