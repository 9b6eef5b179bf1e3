"""Liveness and readiness for Kubernetes. Kafka or S3 being down never makes the service
unready: requests still work (events wait in the outbox, uploads answer 503)."""

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

HEALTH = inline_serializer(
    "Health",
    fields={"status": serializers.CharField(), "database": serializers.CharField(required=False)},
)

_migrated = False


class LiveView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="health_live", responses={200: HEALTH}, auth=[])
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="health_ready", responses={200: HEALTH, 503: HEALTH}, auth=[])
    def get(self, request: Request) -> Response:
        global _migrated
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            if not _migrated:
                # Once everything is applied it stays so for this process's code.
                executor = MigrationExecutor(connection)
                _migrated = not executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError:
            return Response({"status": "unavailable", "database": "unreachable"}, status=503)
        if not _migrated:
            return Response({"status": "unavailable", "database": "migrations pending"}, status=503)
        return Response({"status": "ok"})
