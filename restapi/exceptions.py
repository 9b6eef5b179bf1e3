"""The application's errors: a small hierarchy, each with a status, a stable code and a sentence."""

from rest_framework import exceptions, status


class ApiError(exceptions.APIException):
    """Base of the application's errors: a status, a stable code and a human sentence."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"
    default_detail = "The request could not be processed."


class NotFound(ApiError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"
    default_detail = "Not found."


class Forbidden(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "permission_denied"
    default_detail = "You are not allowed to do this."


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


class InvalidCredentials(ApiError):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "invalid_credentials"
    default_detail = "Invalid email or password."


class InvalidToken(ApiError):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "invalid_token"
    default_detail = "The token is invalid, expired or revoked."


class InvalidAccessToken(InvalidToken, exceptions.AuthenticationFailed):
    """Raised by the authentication class, so that DRF adds WWW-Authenticate."""


class TokenExpired(InvalidAccessToken):
    default_code = "token_expired"
    default_detail = "The token has expired."


class PayloadTooLarge(ApiError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The request body is too large."


class Overloaded(ApiError):
    """503 with Retry-After: the process is at a bound it keeps to stay alive."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "overloaded"
    default_detail = "The service is busy; retry shortly."
    retry_after = 1
