"""What the OpenAPI schema (drf-spectacular) shares across apps.

The statuses every operation documents are its own (each view's `errors(...)`) plus the
ones implied by how every request is handled (`implied_errors`, a postprocessing hook):
401 wherever credentials are checked, 400/413/415 wherever a JSON body is parsed, 503
wherever the database is used. tests/test_openapi.py sends every operation the requests
that provoke them and checks each answer is documented.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from restapi.codes import ErrorCode
from restapi.pagination import MAX_DB_ID

# SPECTACULAR_SETTINGS' ENUM_NAME_OVERRIDES names this choice set ErrorCodeEnum.
ERROR_CODES = [code.value for code in ErrorCode]


class ErrorOutput(serializers.Serializer[None]):
    msg = serializers.CharField()
    code = serializers.ChoiceField(choices=ERROR_CODES)
    # Only describes the error body; it is never validated, so hiding .errors is harmless.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class MessageOutput(serializers.Serializer[None]):
    msg = serializers.CharField()


ERROR_MEANINGS = {
    400: "Invalid input",
    401: "No, invalid, expired or revoked credentials",
    403: "Not allowed",
    404: "Not found (including another user's resource)",
    408: "The request body stopped arriving (or fell below the minimum rate)",
    409: "Conflict",
    411: "Content-Length required",
    413: "Too large",
    415: "Unsupported media type",
    429: "Rate limited (see Retry-After)",
    503: "Overloaded or a dependency is down (see Retry-After)",
}

# What every JSON body can be refused for, whatever the route does with it.
BODY_ERRORS = {
    400: "Invalid input; the body is not JSON, or is nested more than "
    f"{settings.JSON_MAX_DEPTH} levels deep",
    413: f"The body is over {settings.JSON_BODY_MAX_BYTES} bytes",
    # restapi/negotiation.py: what curl -d and other clients label JSON is read as JSON.
    415: "The body is labelled neither application/json nor form data, text/plain or "
    "nothing (all read as JSON), or a browser sent one of the last from another site",
}
DATABASE_DOWN = "The database is down, or the service is overloaded (see Retry-After)"
# The only operations that never touch the database (their 503 would be a lie).
WITHOUT_DATABASE = {"health_live", "jwks", "openid_configuration", "event_schemas", "event_schema"}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    return {
        status: OpenApiResponse(ErrorOutput, description=ERROR_MEANINGS[status])
        for status in statuses
    }


def _error_response(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/ErrorOutput"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def implied_errors(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS: the statuses that come from how every request is handled,
    added to each operation that does not document them itself. Builds new operations:
    some come from SPECTACULAR_SETTINGS (APPEND_PATHS), which must stay as they are."""
    result["paths"] = {
        path: {method: _with_implied_errors(operation) for method, operation in item.items()}
        for path, item in result["paths"].items()
    }
    return result


def _with_implied_errors(operation: dict[str, Any]) -> dict[str, Any]:
    implied: dict[int, str] = {}
    if any(operation.get("security", [])):
        implied[401] = ERROR_MEANINGS[401]
    if "application/json" in operation.get("requestBody", {}).get("content", {}):
        implied |= BODY_ERRORS
    if operation["operationId"] not in WITHOUT_DATABASE:
        implied[503] = DATABASE_DOWN
    responses = {str(status): _error_response(text) for status, text in implied.items()}
    responses |= operation["responses"]
    return {**operation, "responses": dict(sorted(responses.items()))}


# Ids are PostgreSQL bigints: anything outside is a 404 (or a 400 in a body).
ID_SCHEMA = {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_DB_ID}


def id_parameter(
    name: str, location: str = OpenApiParameter.PATH, **kwargs: Any
) -> OpenApiParameter:
    return OpenApiParameter(name, ID_SCHEMA, location, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class OptionalBody:
    """`request=` for a body some callers leave out: drf-spectacular marks a body
    required whenever its serializer has a required field."""

    serializer: type[serializers.Serializer[Any]]


@dataclass(frozen=True)
class RequiredBody:
    """`request=` for a body given as a raw schema (a file), which drf-spectacular would
    mark optional."""

    schema: dict[str, Any]


class AutoSchema(openapi.AutoSchema):
    def _get_request_for_media_type(
        self, serializer: Any, direction: str = "request"
    ) -> tuple[Any, bool]:
        if isinstance(serializer, RequiredBody):
            return serializer.schema, True
        if isinstance(serializer, OptionalBody):
            schema, _ = super()._get_request_for_media_type(  # type: ignore[no-untyped-call]
                serializer.serializer, direction
            )
            return schema, False
        return super()._get_request_for_media_type(  # type: ignore[no-any-return,no-untyped-call]
            serializer, direction
        )


def envelope(name: str, **fields: Any) -> serializers.Serializer[None]:
    """A response body made of named fields, plus `msg`."""
    return inline_serializer(name, fields={**fields, "msg": serializers.CharField()})


def page_envelope(
    name: str, items_field: str, items: serializers.Serializer[Any]
) -> serializers.Serializer[None]:
    """A page of a cursor-paginated search: the items, `next_cursor` and `msg`."""
    return envelope(
        name, **{items_field: items, "next_cursor": serializers.CharField(allow_null=True)}
    )
