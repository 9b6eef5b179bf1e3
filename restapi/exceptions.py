"""The application's errors, all of them here: each with a status, a stable code and a
sentence."""

from django.conf import settings
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


class EmailNotVerified(Forbidden):
    default_code = "email_not_verified"
    default_detail = "Confirm your email address first: follow the link we sent you."


class EmailTaken(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "email_taken"
    default_detail = "An account with this email already exists."


class EventsDisabled(ApiError):
    """With KAFKA_ENABLED=0 no producer runs: a queued message would never be sent, and its
    row would only age into the outbox backlog alert. A 409: the request is fine, the
    service's state (its configuration) refuses it, and retrying cannot help until an
    operator turns Kafka on; not a 503, which tells clients to come back later."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "events_disabled"
    default_detail = "Kafka is disabled on this service (KAFKA_ENABLED=0): nothing would send it."


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


class InvalidOneTimeToken(ApiError):
    default_code = "invalid_or_expired_token"
    default_detail = "This link or code is invalid or has expired."


class RateLimited(exceptions.Throttled):
    """A Throttled, so that DRF sends Retry-After from `wait`."""

    default_code = "rate_limited"
    wait: int  # seconds, set by Throttled (the stubs do not declare it)


class JsonTooDeep(ApiError):
    default_code = "json_too_deep"
    default_detail = "The JSON body is nested too deeply."

    def __init__(self) -> None:
        super().__init__(
            f"The JSON body is nested more than {settings.JSON_MAX_DEPTH} levels deep."
        )


class IncompleteBody(ApiError):
    default_code = "incomplete_body"
    default_detail = "The request body ended before Content-Length bytes."


class RequestTimeout(ApiError):
    status_code = status.HTTP_408_REQUEST_TIMEOUT
    default_code = "request_timeout"
    default_detail = "The request body stopped arriving; send the request again."


class LengthRequired(ApiError):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_code = "length_required"
    default_detail = "Send the file with a Content-Length header."


class PayloadTooLarge(ApiError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The request body is too large."


class QuotaExceeded(PayloadTooLarge):
    default_code = "quota_exceeded"
    default_detail = "This upload would take you over your storage quota."


class Overloaded(ApiError):
    """503 with Retry-After: the process is at a bound it keeps to stay alive."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "overloaded"
    default_detail = "The service is busy; retry shortly."
    retry_after = 1


class TransfersBusy(Overloaded):
    default_detail = "Too many file transfers are in progress; retry shortly."
    retry_after = 5


class StorageUnavailable(ApiError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "storage_unavailable"
    default_detail = "File storage is unavailable; retry later."
    retry_after = 5
