import uuid

from django.http import HttpResponseRedirect, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from auth.authentication import auth_time
from privacy import selectors, services
from privacy.models import Erasure, Export, ExportState
from privacy.serializers import (
    EraseInput,
    ErasureMessage,
    ErasureOutput,
    ExportMessage,
    ExportOutput,
)
from restapi.clients import client_ip
from restapi.exceptions import ExportFailed
from restapi.schema import errors
from restapi.serializing import shaped, validated, with_msg
from users.requests import UserRequest
from users.selectors import user_get_for_actor

# How long a client polling an export in progress should wait before asking again.
POLL_SECONDS = 2


def export_body(export: Export, msg: str) -> dict[str, object]:
    return with_msg(shaped(ExportOutput, export), msg)


def export_accepted(export: Export) -> Response:
    return Response(
        export_body(export, f"Preparing the export: GET /user/export/{export.pk}"),
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": f"/user/export/{export.pk}", "Retry-After": str(POLL_SECONDS)},
    )


class ExportView(APIView):
    @extend_schema(
        operation_id="export_request",
        description="Prepares a zip of everything held about the caller (profile.json, "
        "sessions.json, files.json, audit.json and the files). Needs an authentication not "
        "older than MFA_STEP_UP_SECONDS; while one export is being made, asking again "
        "answers that one.",
        request=None,
        responses={202: ExportMessage, **errors(401, 429)},
    )
    def post(self, request: UserRequest) -> Response:
        export = services.export_request(user=request.user, auth_time=auth_time(request.auth))
        return export_accepted(export)


class ExportDetailView(APIView):
    @extend_schema(
        operation_id="export_get",
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The archive, once ready"
            ),
            202: OpenApiResponse(ExportMessage, description="Still being made: its progress"),
            302: OpenApiResponse(description="to a presigned URL (S3_PRESIGNED_DOWNLOADS=1)"),
            **errors(404, 409, 503),
        },
    )
    def get(
        self, request: UserRequest, export_id: uuid.UUID
    ) -> Response | StreamingHttpResponse | HttpResponseRedirect:
        export = selectors.export_get_for_owner(user=request.user, export_id=export_id)
        if export.state == ExportState.FAILED:
            raise ExportFailed()
        if export.state != ExportState.READY:
            return export_accepted(export)
        found = services.export_download(export=export)
        if isinstance(found, str):
            return HttpResponseRedirect(found)
        return StreamingHttpResponse(
            found,
            content_type="application/zip",
            headers={
                "Content-Length": str(export.size_in_bytes),
                "Content-Disposition": services.export_disposition(export),
                "ETag": f'"{export.sha256}"',
            },
        )


def erasure_body(erasure: Erasure) -> dict[str, object]:
    when = f"{erasure.due_at:%Y-%m-%d %H:%M} UTC"
    return with_msg(shaped(ErasureOutput, erasure), f"The account is deleted for good at {when}.")


class EraseView(APIView):
    @extend_schema(
        operation_id="user_erase",
        description="Revokes every session, deactivates the account and deletes everything "
        "about it after USER_ERASE_GRACE_SECONDS. For yourself: `current_password` and an "
        "authentication not older than MFA_STEP_UP_SECONDS. An admin may name another "
        "`user_id`. Asked again, answers the erasure already scheduled.",
        request=EraseInput,
        responses={202: ErasureMessage, **errors(400, 401, 404, 429, 503)},
    )
    def post(self, request: UserRequest) -> Response:
        data = validated(EraseInput, request)
        user = user_get_for_actor(actor=request.user, user_id=data.get("user_id", request.user.pk))
        erasure = services.erasure_request(
            actor=request.user,
            user=user,
            current_password=data.get("current_password"),
            auth_time=auth_time(request.auth),
            client_ip=client_ip(request),
        )
        return Response(erasure_body(erasure), status=status.HTTP_202_ACCEPTED)
