from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kafka_events.serializers import PublishInput
from kafka_events.services import message_publish
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
