import base64
from typing import Any
from urllib.parse import quote

from django.http import HttpResponseRedirect, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from restapi.exceptions import LengthRequired
from restapi.schema import RequiredBody, envelope, errors, id_parameter, page_envelope
from restapi.serializing import page_body, shaped, validated, with_msg
from userdata import selectors, services
from userdata.models import UserFile
from userdata.serializers import (
    DataMessage,
    DataOutput,
    DataSearchInput,
    DataUpdateInput,
    UploadHeaders,
)
from users.requests import UserRequest


def upload_headers(request: Request) -> dict[str, Any]:
    """Metadata headers; `data-type` and `data_type` both reach Django as HTTP_DATA_TYPE."""
    meta = request.META
    raw = {
        "filename": meta.get("HTTP_FILENAME"),
        "data_type": meta.get("HTTP_DATA_TYPE"),
        "encoding": meta.get("HTTP_ENCODING"),
        "comments": meta.get("HTTP_COMMENTS"),
        "user_id": meta.get("HTTP_USER_ID"),
        "content_type": meta.get("CONTENT_TYPE") or "application/octet-stream",
    }
    headers = UploadHeaders(data={k: v for k, v in raw.items() if v is not None})
    headers.is_valid(raise_exception=True)
    return dict(headers.validated_data)


def content_length(request: Request) -> int:
    text = request.META.get("CONTENT_LENGTH")
    if not text:
        raise LengthRequired()
    try:
        length = int(text)
    except ValueError:
        raise ValidationError({"Content-Length": ["Not a number."]}) from None
    if length == 0:
        raise ValidationError({"body": ["The file is empty."]})
    return length


def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII fallback that cannot break the header, and the exact name."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\/' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def record_body(record: UserFile) -> dict[str, Any]:
    return with_msg(shaped(DataOutput, record), "success")


UPLOAD_HEADERS = [
    OpenApiParameter(
        "filename",
        {"type": "string", "minLength": 1, "maxLength": 255},
        OpenApiParameter.HEADER,
        required=True,
    ),
    OpenApiParameter(
        "data-type",
        {"type": "string", "maxLength": 128},
        OpenApiParameter.HEADER,
        description="or data_type",
    ),
    OpenApiParameter("encoding", {"type": "string", "maxLength": 64}, OpenApiParameter.HEADER),
    OpenApiParameter("comments", {"type": "string", "maxLength": 1024}, OpenApiParameter.HEADER),
    id_parameter("user-id", OpenApiParameter.HEADER, description="admins: upload for this user"),
]


class DataView(APIView):
    @extend_schema(
        operation_id="data_upload",
        description="The raw body is the file (any Content-Type); metadata in headers.",
        parameters=UPLOAD_HEADERS,
        # An empty body is refused (400): the schema says so, for generated clients.
        request={
            "application/octet-stream": RequiredBody(
                {"type": "string", "format": "binary", "minLength": 1}
            )
        },
        # The record's fields at the top level, as the Rust service answered.
        responses={201: DataMessage, **errors(400, 403, 404, 408, 411, 413, 503)},
    )
    def post(self, request: UserRequest) -> Response:
        length = content_length(request)
        headers = upload_headers(request)
        owner = selectors.owner_for_upload(actor=request.user, user_id=headers.pop("user_id", None))
        record = services.file_upload(owner=owner, body=request.stream, length=length, **headers)
        return Response(record_body(record), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="data_update",
        request=DataUpdateInput,
        # The record under `data`, as the Rust service answered an update.
        responses={200: envelope("DataRecordOutput", data=DataMessage()), **errors(400, 404)},
    )
    def put(self, request: UserRequest) -> Response:
        data = validated(DataUpdateInput, request)
        record = selectors.file_get_for_owner(actor=request.user, data_id=data.pop("data_id"))
        record = services.file_update(record=record, **data)
        return Response({"data": record_body(record), "msg": "success"})


class DataSearchView(APIView):
    @extend_schema(
        operation_id="data_search",
        request=DataSearchInput,
        responses={
            200: page_envelope("DataSearchOutput", "data", DataMessage(many=True)),
            **errors(400, 403),
        },
    )
    def post(self, request: UserRequest) -> Response:
        query = validated(DataSearchInput, request)
        page = selectors.file_search(actor=request.user, **query)
        return Response(page_body("data", page, DataOutput, item_msg="success"))


def download(record: UserFile) -> StreamingHttpResponse | HttpResponseRedirect:
    disposition = content_disposition(record.filename)
    headers = {
        "Content-Length": str(record.size_in_bytes),
        "Content-Disposition": disposition,
        # The bytes are the user's: never let a browser run them in this origin.
        "Content-Security-Policy": "sandbox",
    }
    # A file imported from the Rust service has no digest until import_seed --hash-files.
    if record.sha256:
        digest = base64.b64encode(bytes.fromhex(record.sha256)).decode()
        headers["ETag"] = f'"{record.sha256}"'
        headers["Digest"] = f"sha-256={digest}"
        headers["Repr-Digest"] = f"sha-256=:{digest}:"
    # Last, so that nothing can fail between taking the transfer slot and the response
    # that gives it back when closed.
    found = services.file_download(record=record, disposition=disposition)
    if isinstance(found, str):
        return HttpResponseRedirect(found)
    return StreamingHttpResponse(found, content_type=record.content_type, headers=headers)


class DataDetailView(APIView):
    @extend_schema(
        operation_id="data_download",
        parameters=[id_parameter("data_id")],
        responses={
            # The stored Content-Type, whatever the upload said.
            (200, "*/*"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The file, with its Content-Type, Content-Length, "
                "Content-Disposition: attachment, ETag and Digest/Repr-Digest (SHA-256; absent "
                "for a file imported from the Rust service until its digest is computed)",
            ),
            302: OpenApiResponse(description="to a presigned URL (S3_PRESIGNED_DOWNLOADS=1)"),
            **errors(404, 503),
        },
    )
    def get(
        self, request: UserRequest, data_id: int
    ) -> StreamingHttpResponse | HttpResponseRedirect:
        return download(selectors.file_get_for_owner(actor=request.user, data_id=data_id))

    @extend_schema(
        operation_id="data_delete",
        parameters=[id_parameter("data_id")],
        responses={204: None, **errors(404)},
    )
    def delete(self, request: UserRequest, data_id: int) -> Response:
        services.file_delete(
            record=selectors.file_get_for_owner(actor=request.user, data_id=data_id)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
