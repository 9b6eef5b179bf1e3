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

from restapi.codes import ErrorCode
from restapi.exceptions import ApiError, Forbidden, InvalidToken, NotFound

logger = logging.getLogger(__name__)


# Codes and messages for DRF's own exceptions, so that clients see one vocabulary.
DRF_ERRORS: dict[type[exceptions.APIException], tuple[ErrorCode, str]] = {
    exceptions.ValidationError: (ErrorCode.VALIDATION_ERROR, "The request has invalid fields."),
    exceptions.ParseError: (ErrorCode.MALFORMED_JSON, "The request body is not valid JSON."),
    exceptions.NotAuthenticated: (
        ErrorCode.NOT_AUTHENTICATED,
        "Authentication credentials were not provided.",
    ),
    exceptions.AuthenticationFailed: (ErrorCode.INVALID_TOKEN, InvalidToken.default_detail),
    exceptions.PermissionDenied: (ErrorCode.PERMISSION_DENIED, Forbidden.default_detail),
    exceptions.NotFound: (ErrorCode.NOT_FOUND, NotFound.default_detail),
    exceptions.MethodNotAllowed: (
        ErrorCode.METHOD_NOT_ALLOWED,
        "This method is not allowed on this path.",
    ),
    exceptions.UnsupportedMediaType: (
        ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        "Send the body as application/json.",
    ),
    exceptions.Throttled: (ErrorCode.RATE_LIMITED, "Too many requests; retry later."),
}


def error_body(
    msg: str, code: ErrorCode, errors: dict[str, list[str]] | None = None
) -> dict[str, Any]:
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
        body = error_body(str(exc.detail), exc.default_code)
    elif isinstance(exc, exceptions.ValidationError):
        code, msg = DRF_ERRORS[exceptions.ValidationError]
        body = error_body(msg, code, _field_errors(exc.detail))
    else:
        code, msg = next(
            (pair for cls, pair in DRF_ERRORS.items() if isinstance(exc, cls)),
            # One no route raises (NotAcceptable cannot happen, see restapi.negotiation):
            # ApiError's own defaults, so that the code stays in the vocabulary.
            (ApiError.default_code, str(ApiError.default_detail)),
        )
        body = error_body(msg, code)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    response.data = body
    return response


def json_error(*, status_code: int, msg: str, code: ErrorCode) -> JsonResponse:
    return JsonResponse(error_body(msg, code), status=status_code)


ADMIN_PREFIX = "/admin/"

_ADMIN_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{} {}</title></head>'
    '<body><h1>{} {}</h1><p>{}</p><p><a href="{}">Back to the admin</a></p></body></html>'
)


def error_response(
    request: HttpRequest, *, status_code: int, msg: str, code: ErrorCode
) -> HttpResponse:
    """The JSON error body, except under /admin/: that is an HTML UI for operators in a
    browser, so it gets a plain page with the same status and sentence (never Django's
    DEBUG pages)."""
    if not request.path.startswith(ADMIN_PREFIX):
        return json_error(status_code=status_code, msg=msg, code=code)
    reason = HTTPStatus(status_code).phrase
    page = format_html(_ADMIN_PAGE, status_code, reason, status_code, reason, msg, ADMIN_PREFIX)
    return HttpResponse(page, status=status_code)


def method_not_allowed(request: HttpRequest, *, allowed: list[str]) -> JsonResponse:
    code, msg = DRF_ERRORS[exceptions.MethodNotAllowed]
    response = json_error(status_code=405, msg=msg, code=code)
    response["Allow"] = ", ".join(allowed)
    return response


# Any method: an unsafe one on an unknown path is a 404 too, not a CSRF failure.
@csrf_exempt
def not_found_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return error_response(
        request, status_code=404, msg=NotFound.default_detail, code=ErrorCode.NOT_FOUND
    )


def server_error_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return error_response(
        request, status_code=500, msg="An internal error occurred.", code=ErrorCode.INTERNAL_ERROR
    )


def bad_request_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return error_response(request, status_code=400, msg="Bad request.", code=ErrorCode.BAD_REQUEST)


def permission_denied_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return error_response(
        request, status_code=403, msg=Forbidden.default_detail, code=ErrorCode.PERMISSION_DENIED
    )


def csrf_failure_view(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW. Only the admin's forms use cookies and CSRF tokens; the API's
    views are exempt, so elsewhere this is a safety net that keeps the error JSON."""
    return error_response(
        request,
        status_code=403,
        msg="The form has expired or did not come from this site: reload it and try again.",
        code=ErrorCode.CSRF_FAILED,
    )
