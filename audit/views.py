from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import selectors
from audit.serializers import AuditEntryOutput, AuditQueryInput
from auth.authentication import AuthenticatedRequest
from restapi.schema import errors, page_envelope
from restapi.serializing import shaped


class AuditView(APIView):
    @extend_schema(
        operation_id="audit_list",
        parameters=[AuditQueryInput],
        responses={
            200: page_envelope("AuditOutput", "entries", AuditEntryOutput(many=True)),
            **errors(400, 404),
        },
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        # A plain dict: from a QueryDict, DRF would take an empty value (`?until=`) as absent.
        query = AuditQueryInput(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        filters = dict(query.validated_data)
        page = selectors.entries_for(
            actor=request.user, action=filters.pop("type", None), **filters
        )
        entries = [shaped(AuditEntryOutput, entry) for entry in page.items]
        return Response({"entries": entries, "next_cursor": page.next_cursor, "msg": "success"})
