"""Storage that hangs, a sender that fails, the per-process transfer cap, and metadata
updates that write only what they change."""

import io
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import pytest
from django.db import connection
from django.http import UnreadablePostError
from django.test.utils import CaptureQueriesContext

from kafka_events.models import OutboxEvent
from restapi.exceptions import IncompleteBody, RequestTimeout, StorageUnavailable, TransfersBusy
from tests.fixtures.storage import S3_BUCKET
from tests.helpers import assert_error, free_port
from tests.userdata.hung_storage import SilentEndpoint
from userdata import services, storage
from userdata.models import UserFile

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


class FailingBody:
    """Gives `good` bytes, then fails the way a request body does when its client fails."""

    def __init__(self, good: int, error: BaseException | None) -> None:
        self.left, self.error = good, error

    def read(self, size: int = -1) -> bytes:
        if self.left == 0:
            if self.error is not None:
                raise self.error
            return b""
        data = b"x" * min(self.left, size if size >= 0 else self.left)
        self.left -= len(data)
        return data


class UnreadBody:
    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")


def stalled() -> OSError:
    """What a request body read that timed out raises through Django."""
    try:
        try:
            raise TimeoutError("The read operation timed out")
        except TimeoutError as exc:
            raise UnreadablePostError(*exc.args) from exc
    except UnreadablePostError as error:
        return error


def bucket(s3):
    objects = s3.list_objects_v2(Bucket=S3_BUCKET).get("Contents", [])
    return [item["Key"] for item in objects], s3.list_multipart_uploads(Bucket=S3_BUCKET).get(
        "Uploads", []
    )


@pytest.fixture
def s3_calls(s3) -> Iterator[list[str]]:
    """The names of the S3 operations the service calls."""
    calls: list[str] = []

    def record(model, **kwargs):
        calls.append(model.name)

    events = storage.backend().client.meta.events
    events.register("before-call.s3", record)
    yield calls
    events.unregister("before-call.s3", record)


def upload_for(user, body, length, **kwargs):
    return services.file_upload(
        owner=user, body=body, length=length, filename="f.bin", content_type="text/plain", **kwargs
    )


# A stalled or short body is the client's failure, never storage's; nothing is stored.


@pytest.mark.parametrize("size", [64 * 1024, 12 * MIB], ids=["small", "multipart"])
def test_a_body_that_stalls_is_408_and_stores_nothing(user, s3, s3_calls, settings, caplog, size):
    settings.S3_MULTIPART_CHUNK_BYTES = 5 * MIB
    with pytest.raises(RequestTimeout):
        upload_for(user, FailingBody(size // 2, stalled()), size)
    assert not UserFile.objects.exists()
    assert bucket(s3) == ([], [])
    assert "PutObject" not in s3_calls and "CompleteMultipartUpload" not in s3_calls
    assert "storage" not in caplog.text.lower()


@pytest.mark.parametrize("size", [64 * 1024, 12 * MIB], ids=["small", "multipart"])
def test_a_body_that_ends_early_is_never_stored(user, s3, s3_calls, settings, caplog, size):
    settings.S3_MULTIPART_CHUNK_BYTES = 5 * MIB
    with pytest.raises(IncompleteBody):
        upload_for(user, FailingBody(size // 2, None), size)
    assert not UserFile.objects.exists()
    assert bucket(s3) == ([], [])
    assert "PutObject" not in s3_calls and "CompleteMultipartUpload" not in s3_calls
    assert "DeleteObject" not in s3_calls
    assert "storage" not in caplog.text.lower()


def test_a_client_that_breaks_off_is_an_incomplete_body(user, s3):
    with pytest.raises(IncompleteBody):
        upload_for(user, FailingBody(10, UnreadablePostError("Connection reset by peer")), 20)
    assert bucket(s3) == ([], [])


def test_a_stalled_body_leaves_no_local_file(user, user_data_dir):
    with pytest.raises(RequestTimeout):
        upload_for(user, FailingBody(2 * MIB, stalled()), 4 * MIB)
    assert [path for path in user_data_dir.rglob("*") if path.is_file()] == []


# A storage that does not answer fails a call after one timeout; quick errors are retried.


@pytest.fixture
def silent_s3(s3, settings) -> Iterator[SilentEndpoint]:
    endpoint = SilentEndpoint()
    settings.S3_ENDPOINT_URL = endpoint.url
    settings.S3_READ_TIMEOUT_SECONDS = 1
    yield endpoint
    endpoint.close()


def test_a_call_that_timed_out_is_not_tried_again(silent_s3):
    # One try: the 1 s timeout, after botocore's 1 s wait for "100 Continue" (four took 8 s).
    started = time.monotonic()
    with pytest.raises(storage.StorageError):
        storage.upload_bytes("hung/one", b"data", content_type="text/plain")
    assert time.monotonic() - started < 4
    assert len(silent_s3.accepted) == 1
    started = time.monotonic()
    with pytest.raises(storage.StorageError):
        storage.download_bytes("hung/one")
    assert time.monotonic() - started < 4
    assert len(silent_s3.accepted) == 2


class CountedBody:
    def __init__(self, size: int) -> None:
        self.size, self.sent = size, 0

    def read(self, amount: int = -1) -> bytes:
        amount = min(amount if amount >= 0 else MIB, self.size - self.sent)
        self.sent += amount
        time.sleep(amount / MIB * 0.02)  # a client sending 50 MiB/s
        return b"b" * amount


def test_storage_that_stops_answering_midway_fails_the_upload_at_the_first_timeout(s3, settings):
    """It answers CreateMultipartUpload, then nothing: the parts time out."""
    settings.S3_MULTIPART_CHUNK_BYTES = 5 * MIB
    settings.S3_READ_TIMEOUT_SECONDS = 2
    created = (
        b"<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
        b"<UploadId>u1</UploadId></InitiateMultipartUploadResult>"
    )
    endpoint = SilentEndpoint(
        answer=b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(created), created)
    )
    settings.S3_ENDPOINT_URL = endpoint.url
    body = CountedBody(500 * MIB)
    calls: list[str] = []
    storage.backend().client.meta.events.register(
        "before-call.s3", lambda model, **kwargs: calls.append(model.name)
    )
    started = time.monotonic()
    try:
        with pytest.raises(storage.StorageError):
            storage.upload_stream("midway/one", body, content_type="text/plain", length=body.size)
    finally:
        endpoint.close()
    took = time.monotonic() - started
    # One timeout (and botocore's 1 s wait for "100 Continue"), not the rest of the body
    # (10 s at this pace) nor an abort that would time out as well.
    assert took < 8, took
    assert body.sent < 100 * MIB
    assert calls[0] == "CreateMultipartUpload" and "AbortMultipartUpload" not in calls


def test_a_call_refused_at_once_is_retried(s3, settings):
    settings.S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    sent = []
    events = storage.backend().client.meta.events
    events.register("before-send.s3.PutObject", lambda **kwargs: sent.append(1))
    with pytest.raises(storage.StorageError):
        storage.upload_bytes("refused/one", b"data", content_type="text/plain")
    assert len(sent) == settings.S3_MAX_ATTEMPTS == 3


# At most USER_DATA_MAX_TRANSFERS transfers per process; past it, 503 before any byte.


@pytest.fixture
def one_transfer(settings):
    settings.USER_DATA_MAX_TRANSFERS = 1


def test_over_the_cap_an_upload_is_refused_without_reading_its_body(
    user, user_client, s3, one_transfer
):
    record = upload_for(user, io.BytesIO(b"stored"), 6)
    with closing(storage.download_chunks(record.key)):
        with pytest.raises(TransfersBusy):
            upload_for(user, UnreadBody(), 10)
        response = user_client.generic(
            "POST", "/user/data", b"x" * 10, content_type="text/plain", HTTP_FILENAME="f"
        )
        assert_error(response, 503, "overloaded")
        assert response["Retry-After"] == "5"
        assert_error(user_client.get(f"/user/data/{record.pk}"), 503, "overloaded")
    assert UserFile.objects.count() == 1
    assert upload_for(user, io.BytesIO(b"again"), 5).size_in_bytes == 5


def test_a_burst_waits_for_a_slot_but_no_more_wait_than_there_are_slots(
    user, s3, one_transfer, settings
):
    settings.USER_DATA_TRANSFER_WAIT_SECONDS = 10
    record = upload_for(user, io.BytesIO(b"stored"), 6)
    holding = storage.download_chunks(record.key)
    _, waiting = storage._transfer_slots(1)
    with ThreadPoolExecutor(1) as pool:
        queued = pool.submit(
            storage.upload_stream, "burst/one", io.BytesIO(b"queued"), content_type="t/p", length=6
        )
        while waiting._value:  # until the upload waits for the slot
            assert not queued.done(), queued.result()
            time.sleep(0.01)
        started = time.monotonic()
        with pytest.raises(TransfersBusy):
            upload_for(user, UnreadBody(), 10)
        assert time.monotonic() - started < 1  # the one place to wait is taken: refused at once
        holding.close()
        assert queued.result(timeout=5).size == 6
    assert waiting._value == 1


def test_a_download_holds_its_slot_until_its_response_is_closed(
    user, user_client, s3, one_transfer
):
    record = upload_for(user, io.BytesIO(b"stored"), 6)
    streaming = user_client.get(f"/user/data/{record.pk}")
    assert streaming.status_code == 200
    assert_error(user_client.get(f"/user/data/{record.pk}"), 503, "overloaded")
    assert b"".join(streaming.streaming_content) == b"stored"  # to the end, then closed
    second = user_client.get(f"/user/data/{record.pk}")
    assert b"".join(second.streaming_content) == b"stored"
    assert upload_for(user, io.BytesIO(b"again"), 5).size_in_bytes == 5


def test_failed_transfers_give_their_slot_back(user, s3, one_transfer, silent_s3):
    for _ in range(2):
        with pytest.raises(StorageUnavailable):
            upload_for(user, io.BytesIO(b"data"), 4)
        with pytest.raises(storage.StorageError):
            storage.download_chunks("hung/none")
        with pytest.raises(IncompleteBody):
            upload_for(user, FailingBody(1, None), 4)


def test_a_storage_that_stops_mid_download_is_a_storage_error(s3, settings):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10485760\r\n\r\n"
    endpoint = SilentEndpoint(answer=head + b"s" * storage.CHUNK_BYTES)
    settings.S3_ENDPOINT_URL = endpoint.url
    settings.S3_READ_TIMEOUT_SECONDS = 1
    try:
        with closing(storage.download_chunks("half/one")) as chunks:
            assert len(next(chunks)) == storage.CHUNK_BYTES
            with pytest.raises(storage.StorageError):
                next(chunks)
    finally:
        endpoint.close()


# An update writes the fields it changes and nothing else; no change, no write, no event.


def test_an_update_keeps_a_concurrent_change_to_another_field(user, s3):
    record = upload_for(user, io.BytesIO(b"data"), 4, comments="first")
    loaded = UserFile.objects.get(pk=record.pk)
    UserFile.objects.filter(pk=record.pk).update(comments="changed meanwhile")
    updated = services.file_update(record=loaded, filename="renamed.bin")
    stored = UserFile.objects.get(pk=record.pk)
    assert (stored.filename, stored.comments) == ("renamed.bin", "changed meanwhile")
    assert (updated.filename, updated.comments) == ("renamed.bin", "changed meanwhile")
    assert stored.updated_at > record.updated_at


def test_an_update_that_changes_nothing_writes_nothing(user, s3, kafka):
    record = upload_for(user, io.BytesIO(b"data"), 4, comments="same")
    events = OutboxEvent.objects.count()
    with CaptureQueriesContext(connection) as queries:
        same = services.file_update(record=record, comments="same", filename=record.filename)
        nothing = services.file_update(record=record)
    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert same.updated_at == nothing.updated_at == record.updated_at
    assert OutboxEvent.objects.count() == events
    services.file_update(record=record, comments="new")
    assert list(OutboxEvent.objects.values_list("event_type", flat=True)[events:]) == [
        "user.data.updated"
    ]
