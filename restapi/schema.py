"""What the OpenAPI schema (drf-spectacular) shares across apps."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers


class ErrorOutput(serializers.Serializer[None]):
    msg = serializers.CharField()
    code = serializers.CharField()
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
    409: "Conflict",
    411: "Content-Length required",
    413: "Too large",
    415: "Unsupported media type",
    429: "Rate limited (see Retry-After)",
    503: "Overloaded or a dependency is down (see Retry-After)",
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    return {
        status: OpenApiResponse(ErrorOutput, description=ERROR_MEANINGS[status])
        for status in statuses
    }


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
