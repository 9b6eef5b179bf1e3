from collections.abc import Callable
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kafka_events.contract import SCHEMAS, schema_path
from kafka_events.serializers import PublishInput
from kafka_events.services import message_publish
from restapi.schema import ErrorOutput, envelope, errors
from restapi.views import valid


class IsAdmin(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(getattr(request.user, "is_admin", False))


class PublishView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        operation_id="kafka_publish",
        request=PublishInput,
        responses={
            202: envelope("PublishOutput", event_id=serializers.UUIDField()),
            **errors(400, 403),
            409: OpenApiResponse(
                ErrorOutput,
                description="Kafka is disabled on this service (events_disabled)",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        event_id = message_publish(**valid(PublishInput, request))
        return Response(
            {"event_id": str(event_id), "msg": "queued"}, status=status.HTTP_202_ACCEPTED
        )


def schema_url(event_type: str, version: int) -> str:
    return f"{settings.PUBLIC_BASE_URL}{schema_path(event_type, version)}"


class SchemaIndexView(APIView):
    """Every event type's schemas: what a consumer reads to find the contract."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="event_schemas",
        description="The JSON Schema of every event type the service emits, by type and "
        "version (docs/api.md, Events).",
        responses={
            200: inline_serializer(
                "EventSchemaIndex",
                fields={
                    "schemas": serializers.DictField(
                        child=serializers.DictField(child=serializers.URLField()),
                        help_text="type → version → the schema's URL",
                    )
                },
            )
        },
        auth=[],
    )
    def get(self, request: Request) -> Response:
        index = {
            event_type: {str(version): schema_url(event_type, version) for version in versions}
            for event_type, versions in SCHEMAS.items()
        }
        # Changes only with a deploy that brings a new version.
        return Response({"schemas": index}, headers={"Cache-Control": "public, max-age=3600"})


class SchemaJSONRenderer(JSONRenderer):
    """JSON labelled as what it is: a JSON Schema."""

    media_type = "application/schema+json"


def event_schema_view(event_type: str, version: int) -> Callable[..., Any]:
    """The view of one schema file: a route, and an operation, of its own per file (the
    route walker and Schemathesis reach each by the URL map)."""
    document = {"$id": schema_url(event_type, version), **SCHEMAS[event_type][version]}

    class EventSchemaView(APIView):
        authentication_classes = []
        permission_classes = [AllowAny]
        renderer_classes = [SchemaJSONRenderer]

        @extend_schema(
            operation_id=f"event_schema_{event_type.replace('.', '_')}_v{version}",
            description=f"The JSON Schema (draft 2020-12) of {event_type} events, version "
            f"{version}.",
            responses={(200, "application/schema+json"): OpenApiTypes.OBJECT},
            auth=[],
        )
        def get(self, request: Request) -> Response:
            # A published version never changes (kafka_events/contract.py).
            return Response(document, headers={"Cache-Control": "public, max-age=86400"})

    return EventSchemaView.as_view()
