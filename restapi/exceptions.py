"""The application's errors, all of them here: each with a status, a code of the one
vocabulary (restapi.codes.ErrorCode) and a sentence."""

from django.conf import settings
from rest_framework import exceptions, status

from restapi.codes import ErrorCode


class ApiError(exceptions.APIException):
    """Base of the application's errors: a status, a stable code and a human sentence."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    # Typed, so that mypy refuses a subclass's code that is not in the vocabulary.
    default_code: ErrorCode = ErrorCode.BAD_REQUEST
    default_detail = "The request could not be processed."


class NotFound(ApiError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = ErrorCode.NOT_FOUND
    default_detail = "Not found."


class Forbidden(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = ErrorCode.PERMISSION_DENIED
    default_detail = "You are not allowed to do this."


class EmailNotVerified(Forbidden):
    default_code = ErrorCode.EMAIL_NOT_VERIFIED
    default_detail = "Confirm your email address first: follow the link we sent you."


class EmailTaken(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = ErrorCode.EMAIL_TAKEN
    default_detail = "An account with this email already exists."


class EventsDisabled(ApiError):
    """With KAFKA_ENABLED=0 no producer runs: a queued message would never be sent, and its
    row would only age into the outbox backlog alert. A 409: the request is fine, the
    service's state (its configuration) refuses it, and retrying cannot help until an
    operator turns Kafka on; not a 503, which tells clients to come back later."""

    status_code = status.HTTP_409_CONFLICT
    default_code = ErrorCode.EVENTS_DISABLED
    default_detail = "Kafka is disabled on this service (KAFKA_ENABLED=0): nothing would send it."


class InvalidCredentials(ApiError):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = ErrorCode.INVALID_CREDENTIALS
    default_detail = "Invalid email or password."


class InvalidToken(ApiError):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = ErrorCode.INVALID_TOKEN
    default_detail = "The token is invalid, expired or revoked."


class InvalidAccessToken(InvalidToken, exceptions.AuthenticationFailed):
    """Raised by the authentication class, so that DRF adds WWW-Authenticate."""


class TokenExpired(InvalidAccessToken):
    default_code = ErrorCode.TOKEN_EXPIRED
    default_detail = "The token has expired."


class InvalidOneTimeToken(ApiError):
    default_code = ErrorCode.INVALID_OR_EXPIRED_TOKEN
    default_detail = "This link or code is invalid or has expired."


class RateLimited(exceptions.Throttled):
    """A Throttled, so that DRF sends Retry-After from `wait`."""

    default_code = ErrorCode.RATE_LIMITED
    wait: int  # seconds, set by Throttled (the stubs do not declare it)


class JsonTooDeep(ApiError):
    default_code = ErrorCode.JSON_TOO_DEEP
    default_detail = "The JSON body is nested too deeply."

    def __init__(self) -> None:
        super().__init__(
            f"The JSON body is nested more than {settings.JSON_MAX_DEPTH} levels deep."
        )


class IncompleteBody(ApiError):
    default_code = ErrorCode.INCOMPLETE_BODY
    default_detail = "The request body ended before Content-Length bytes."


class RequestTimeout(ApiError):
    status_code = status.HTTP_408_REQUEST_TIMEOUT
    default_code = ErrorCode.REQUEST_TIMEOUT
    default_detail = "The request body stopped arriving; send the request again."


class LengthRequired(ApiError):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_code = ErrorCode.LENGTH_REQUIRED
    default_detail = "Send the file with a Content-Length header."


class PayloadTooLarge(ApiError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = ErrorCode.PAYLOAD_TOO_LARGE
    default_detail = "The request body is too large."


class QuotaExceeded(PayloadTooLarge):
    default_code = ErrorCode.QUOTA_EXCEEDED
    default_detail = "This upload would take you over your storage quota."


class Overloaded(ApiError):
    """503 with Retry-After: the process is at a bound it keeps to stay alive."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = ErrorCode.OVERLOADED
    default_detail = "The service is busy; retry shortly."
    retry_after = 1


class TransfersBusy(Overloaded):
    default_detail = "Too many file transfers are in progress; retry shortly."
    retry_after = 5


class StorageUnavailable(ApiError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = ErrorCode.STORAGE_UNAVAILABLE
    default_detail = "File storage is unavailable; retry later."
    retry_after = 5


class InvalidMfaCode(ApiError):
    """A wrong code where a signed-in user confirms or removes a factor (a field of the
    request, not their credentials: the access token stays good)."""

    default_code = ErrorCode.INVALID_MFA_CODE
    default_detail = "The code is wrong or was already used."


class MfaFailed(ApiError):
    """Every failed second step of a login: one body, like invalid_credentials."""

    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = ErrorCode.MFA_FAILED
    default_detail = "The second factor was not accepted."


class MfaTokenInvalid(ApiError):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = ErrorCode.MFA_TOKEN_INVALID
    default_detail = "The login has expired or was already completed: log in again."


class StepUpRequired(ApiError):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = ErrorCode.STEP_UP_REQUIRED
    default_detail = "Log in again (with your second factor) to make this change."


class MfaAlreadyEnabled(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = ErrorCode.MFA_ALREADY_ENABLED
    default_detail = "An authenticator app is already set up: remove it first."


class MfaNotEnabled(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = ErrorCode.MFA_NOT_ENABLED
    default_detail = "No such second factor is set up."


class ExportFailed(ApiError):
    """Storage failed every attempt at the archive (USER_EXPORT_MAX_ATTEMPTS)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = ErrorCode.EXPORT_FAILED
    default_detail = "This export could not be made: ask for a new one."
