"""The one error contract: every error is JSON `{"msg", "code", "errors"?}` (docs/api.md)."""

import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.html import format_html
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from restapi.exceptions import ApiError, Forbidden, InvalidToken, NotFound

logger = logging.getLogger(__name__)


# Codes and messages for DRF's own exceptions, so that clients see one vocabulary.
DRF_ERRORS: dict[type[exceptions.APIException], tuple[str, str]] = {
    exceptions.ValidationError: ("validation_error", "The request has invalid fields."),
    exceptions.ParseError: ("malformed_json", "The request body is not valid JSON."),
    exceptions.NotAuthenticated: (
        "not_authenticated",
        "Authentication credentials were not provided.",
    ),
    exceptions.AuthenticationFailed: ("invalid_token", InvalidToken.default_detail),
    exceptions.PermissionDenied: ("permission_denied", Forbidden.default_detail),
    exceptions.NotFound: ("not_found", NotFound.default_detail),
    exceptions.MethodNotAllowed: ("method_not_allowed", "This method is not allowed on this path."),
    exceptions.UnsupportedMediaType: (
        "unsupported_media_type",
        "Send the body as application/json.",
    ),
    exceptions.Throttled: ("rate_limited", "Too many requests; retry later."),
}


def error_body(msg: str, code: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"msg": msg, "code": code}
    if errors is not None:
        body["errors"] = errors
    return body


def _field_errors(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {field: _messages(value) for field, value in detail.items()}
    return {"non_field_errors": _messages(detail)}


def _messages(value: Any) -> list[str]:
    if isinstance(value, list):
        return [message for item in value for message in _messages(item)]
    if isinstance(value, dict):
        return [f"{key}: {message}" for key, item in value.items() for message in _messages(item)]
    return [str(value)]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = Forbidden()
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return None
    if isinstance(exc, ApiError):
        body = error_body(str(exc.detail), str(exc.get_codes()))
    elif isinstance(exc, exceptions.ValidationError):
        code, msg = DRF_ERRORS[exceptions.ValidationError]
        body = error_body(msg, code, _field_errors(exc.detail))
    else:
        code, msg = next(
            (pair for cls, pair in DRF_ERRORS.items() if isinstance(exc, cls)),
            ("error", "The request could not be processed."),
        )
        body = error_body(msg, code)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    response.data = body
    return response


def json_error(request: HttpRequest, *, status_code: int, msg: str, code: str) -> JsonResponse:
    return JsonResponse(error_body(msg, code), status=status_code)


ADMIN_PREFIX = "/admin/"

_ADMIN_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{} {}</title></head>'
    '<body><h1>{} {}</h1><p>{}</p><p><a href="{}">Back to the admin</a></p></body></html>'
)


def error_response(request: HttpRequest, *, status_code: int, msg: str, code: str) -> HttpResponse:
    """The JSON error body, except under /admin/: that is an HTML UI for operators in a
    browser, so it gets a plain page with the same status and sentence (never Django's
    DEBUG pages)."""
    if not request.path.startswith(ADMIN_PREFIX):
        return json_error(request, status_code=status_code, msg=msg, code=code)
    reason = HTTPStatus(status_code).phrase
    page = format_html(_ADMIN_PAGE, status_code, reason, status_code, reason, msg, ADMIN_PREFIX)
    return HttpResponse(page, status=status_code)


def method_not_allowed(request: HttpRequest, *, allowed: list[str]) -> JsonResponse:
    code, msg = DRF_ERRORS[exceptions.MethodNotAllowed]
    response = json_error(request, status_code=405, msg=msg, code=code)
    response["Allow"] = ", ".join(allowed)
    return response


# Any method: an unsafe one on an unknown path is a 404 too, not a CSRF failure.
@csrf_exempt
def not_found_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return error_response(request, status_code=404, msg=NotFound.default_detail, code="not_found")


def server_error_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return error_response(
        request, status_code=500, msg="An internal error occurred.", code="internal_error"
    )


def bad_request_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return error_response(request, status_code=400, msg="Bad request.", code="bad_request")


def permission_denied_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return error_response(
        request, status_code=403, msg=Forbidden.default_detail, code="permission_denied"
    )


def csrf_failure_view(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW. Only the admin's forms use cookies and CSRF tokens; the API's
    views are exempt, so elsewhere this is a safety net that keeps the error JSON."""
    return error_response(
        request,
        status_code=403,
        msg="The form has expired or did not come from this site: reload it and try again.",
        code="csrf_failed",
    )
