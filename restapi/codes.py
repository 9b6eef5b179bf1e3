"""Every `code` an error body can carry: the one vocabulary of docs/api.md#errors.

Imports nothing, so that the gunicorn worker (which answers some errors before Django
runs) and every app can use it. The OpenAPI schema lists these values as the body's enum;
tests/test_errors.py checks that the schema, this enum and docs/api.md agree.
"""

from enum import StrEnum


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "validation_error"
    MALFORMED_JSON = "malformed_json"
    JSON_TOO_DEEP = "json_too_deep"
    INVALID_OR_EXPIRED_TOKEN = "invalid_or_expired_token"  # noqa: S105
    INCOMPLETE_BODY = "incomplete_body"
    BAD_REQUEST = "bad_request"
    NOT_AUTHENTICATED = "not_authenticated"
    INVALID_TOKEN = "invalid_token"  # noqa: S105
    TOKEN_EXPIRED = "token_expired"  # noqa: S105
    INVALID_CREDENTIALS = "invalid_credentials"
    PERMISSION_DENIED = "permission_denied"
    EMAIL_NOT_VERIFIED = "email_not_verified"
    INVALID_MFA_CODE = "invalid_mfa_code"
    MFA_FAILED = "mfa_failed"
    MFA_TOKEN_INVALID = "mfa_token_invalid"  # noqa: S105
    STEP_UP_REQUIRED = "step_up_required"
    MFA_ALREADY_ENABLED = "mfa_already_enabled"
    MFA_NOT_ENABLED = "mfa_not_enabled"
    EXPORT_FAILED = "export_failed"
    CSRF_FAILED = "csrf_failed"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    REQUEST_TIMEOUT = "request_timeout"
    EMAIL_TAKEN = "email_taken"
    EVENTS_DISABLED = "events_disabled"
    LENGTH_REQUIRED = "length_required"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    QUOTA_EXCEEDED = "quota_exceeded"
    URI_TOO_LONG = "uri_too_long"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    EXPECTATION_FAILED = "expectation_failed"
    RATE_LIMITED = "rate_limited"
    HEADERS_TOO_LARGE = "headers_too_large"
    INTERNAL_ERROR = "internal_error"
    NOT_IMPLEMENTED = "not_implemented"
    OVERLOADED = "overloaded"
    DATABASE_UNAVAILABLE = "database_unavailable"
    STORAGE_UNAVAILABLE = "storage_unavailable"
