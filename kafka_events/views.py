from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kafka_events.contract import SCHEMAS, schema_path
from kafka_events.serializers import PublishInput
from kafka_events.services import message_publish
from restapi.exceptions import NotFound
from restapi.permissions import IsAdmin
from restapi.schema import ErrorOutput, envelope, errors
from restapi.serializing import validated


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
        event_id = message_publish(**validated(PublishInput, request))
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


class EventSchemaView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="event_schema",
        description="The JSON Schema (draft 2020-12) of one event type's version, as "
        "`/events/schemas` lists them. A published version never changes.",
        # The schema is labelled as what it is; an error is JSON, as everywhere.
        responses={
            (200, "application/schema+json"): OpenApiTypes.OBJECT,
            (404, "application/json"): ErrorOutput,
        },
        auth=[],
    )
    def get(self, request: Request, event_type: str, version: int) -> Response:
        schema = SCHEMAS.get(event_type, {}).get(version)
        if schema is None:
            raise NotFound()
        document = {"$id": schema_url(event_type, version), **schema}
        return Response(
            document,
            content_type="application/schema+json",
            headers={"Cache-Control": "public, max-age=86400"},
        )
