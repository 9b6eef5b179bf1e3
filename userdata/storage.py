"""Where user files live: S3 (S3_DATA_UPLOAD_TO_S3=1) or a local directory.

The only module that imports boto3. Bytes are streamed in bounded chunks both ways, the
SHA-256 is computed on the way in, and a failed upload leaves nothing behind (boto3's
transfer manager aborts an incomplete multipart upload; a local temporary file is removed).
The Rust service's library functions are kept as plain functions for scripts (upload_file,
upload_bytes, download_file, download_bytes); `manage.py user_files download` uses
download_file, while uploads from the API and the command go through
userdata.services.file_upload (quota, row, event) and upload_stream.

A storage that stops answering costs one request one timeout, never the service: S3 calls
have connect and read timeouts, a call that timed out is not tried again, and a process
runs at most USER_DATA_MAX_TRANSFERS uploads and downloads at once (Busy past that, after
a short wait for a burst).
Failures are told apart: StorageError is storage's, BodyError the sender's.
"""

import hashlib
import io
import os
import queue
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    ReadTimeoutError,
)
from django.conf import settings

from restapi.slots import take_or_wait

CHUNK_BYTES = 1024 * 1024


class StorageError(Exception):
    """The storage backend failed (unreachable, refused, or the object is missing)."""


class Missing(StorageError):
    """Storage answered: there is no object under that key."""


class TooLarge(Exception):
    """The body was longer than announced."""


class BodyError(Exception):
    """Reading the bytes to store failed: the sender's fault, not storage's."""


class BodyStalled(BodyError):
    """A read of the body timed out: the sender stopped sending."""


class BodyIncomplete(BodyError):
    """The body ended, or the sender broke off, before its announced length."""


class Busy(Exception):
    """This process already runs USER_DATA_MAX_TRANSFERS transfers."""


@dataclass(frozen=True)
class Stored:
    key: str
    size: int
    sha256: str


def _body_error(exc: OSError) -> BodyError:
    # Django raises a failed read of the request body as UnreadablePostError from it.
    if isinstance(exc, TimeoutError) or isinstance(exc.__cause__, TimeoutError):
        return BodyStalled(str(exc))
    return BodyIncomplete(str(exc))


class Source(Protocol):
    """What bytes to store are read from: a request body, a file, a pipe."""

    def read(self, size: int = -1, /) -> bytes: ...


class HashingReader(io.RawIOBase):
    """Reads exactly `length` bytes through from a stream (or, with None, all of it),
    hashing and counting.

    A failed read, or an end before `length`, raises a BodyError here, in whichever thread
    reads (s3transfer's own, which re-raise it to the caller): so a short body is never
    stored, and a sender's failure is never taken for storage's.
    """

    def __init__(self, stream: Source, length: int | None) -> None:
        self.stream, self.length = stream, length
        self.size, self.digest = 0, hashlib.sha256()
        # Whether storage has already failed this upload: then the rest is not read.
        self.abandoned: Callable[[], bool] = lambda: False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.abandoned():
            raise StorageError("storage failed this upload; the rest of the body is not read")
        wanted = size if size is not None and size >= 0 else CHUNK_BYTES
        try:
            data = self.stream.read(wanted)
        except OSError as exc:
            raise _body_error(exc) from exc
        self.size += len(data)
        if self.length is not None:
            if self.size > self.length:
                raise TooLarge()
            if wanted and not data and self.size < self.length:
                raise BodyIncomplete(f"the body ended after {self.size} of {self.length} bytes")
        self.digest.update(data)
        return data

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def stored(self, key: str) -> Stored:
        return Stored(key=key, size=self.size, sha256=self.digest.hexdigest())


# A download's reader thread keeps at most this many chunks ready ahead of the client.
READ_AHEAD_CHUNKS = 2
_END = object()


class Chunks:
    """The bytes of one stored object. A reader thread fetches the next chunks from
    storage while the last one is being written to the client (so the two legs overlap
    instead of adding up), at most READ_AHEAD_CHUNKS ahead. Closing it, which the WSGI
    server does when the response ends (also when the client went away, or before the
    first chunk), stops the reader, closes the object and gives back its transfer slot.
    """

    def __init__(self, chunks: Iterator[bytes], resource: Any, release: Callable[[], None]) -> None:
        self.ready: queue.Queue[Any] = queue.Queue(maxsize=READ_AHEAD_CHUNKS)
        self.stopped = threading.Event()
        # The reader holds the queue and the event, not this object: dropped unclosed (say,
        # a response replaced on the way out), it is still finalized, and the finalizer
        # stops the reader and gives the slot back, once.
        self.finish = weakref.finalize(self, _finish, self.stopped, resource, release)
        threading.Thread(
            target=_read_ahead, args=(chunks, self.ready, self.stopped), daemon=True
        ).start()

    def __iter__(self) -> "Chunks":
        return self

    def __next__(self) -> bytes:
        item = self.ready.get()
        if item is _END:
            self.ready.put(_END)  # for any later call
            raise StopIteration
        if isinstance(item, BotoCoreError | OSError):
            raise StorageError(str(item)) from item
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[no-any-return]

    def close(self) -> None:
        self.finish()


def _read_ahead(
    chunks: Iterator[bytes], ready: "queue.Queue[Any]", stopped: threading.Event
) -> None:
    item: Any = _END
    try:
        for data in chunks:
            if not _hand_over(data, ready, stopped):
                return
    except Exception as exc:  # given to the reader of the response, which raises it
        item = exc
    _hand_over(item, ready, stopped)


def _hand_over(item: Any, ready: "queue.Queue[Any]", stopped: threading.Event) -> bool:
    """Puts the item in the queue, waiting for room; False once the download was closed."""
    while not stopped.is_set():
        try:
            ready.put(item, timeout=0.5)
            return True
        except queue.Full:
            continue
    return False


def _finish(stopped: threading.Event, resource: Any, release: Callable[[], None]) -> None:
    stopped.set()
    try:
        resource.close()
    finally:
        release()


class Backend(Protocol):
    def put(self, key: str, reader: HashingReader, content_type: str) -> None: ...
    def open(self, key: str) -> tuple[Iterator[bytes], Any]: ...
    def delete(self, key: str) -> None: ...
    def delete_many(self, keys: list[str]) -> None: ...
    def prune(self, prefix: str) -> None: ...
    def keys(self, prefix: str) -> Iterator[tuple[str, datetime]]: ...
    def incomplete_uploads(self, prefix: str) -> Iterator[tuple[str, str, datetime]]: ...
    def abort_upload(self, key: str, upload_id: str) -> None: ...
    def sloc(self, key: str) -> str: ...


def _waited_out(exc: Exception) -> bool:
    """Whether a failed call waited out a timeout on a storage that did not answer."""
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        return True
    # Sending a body that storage does not take times out in urllib3's send, which botocore
    # reports as a closed connection.
    error = exc.kwargs.get("error") if isinstance(exc, ConnectionClosedError) else None
    return error is not None and isinstance(error.__context__, TimeoutError)


def _timeouts_are_final(caught_exception: Exception | None = None, **kwargs: Any) -> None:
    """A call that timed out has waited a whole timeout on a storage that did not answer;
    trying it again would multiply that wait (4 attempts of 60 s held a thread for minutes).
    It fails now. Errors that come back at once are still retried (botocore's standard mode)."""
    if caught_exception is not None and _waited_out(caught_exception):
        raise caught_exception


class S3Backend:
    def __init__(self) -> None:
        self.bucket = settings.S3_DATA_BUCKET
        self.client = boto3.client(
            "s3",
            region_name=settings.S3_REGION,
            endpoint_url=settings.S3_ENDPOINT_URL,
            config=Config(
                # S3-compatible servers do not all speak the newer default checksums.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                connect_timeout=settings.S3_CONNECT_TIMEOUT_SECONDS,
                read_timeout=settings.S3_READ_TIMEOUT_SECONDS,
                retries={"total_max_attempts": settings.S3_MAX_ATTEMPTS, "mode": "standard"},
            ),
        )
        events = self.client.meta.events
        # First, so that it decides before botocore's own retry handler.
        events.register_first("needs-retry.s3", _timeouts_are_final)
        events.register("before-parameter-build.s3", self._note_key)
        events.register("after-call-error.s3", self._note_failure)
        events.register("before-parameter-build.s3.AbortMultipartUpload", self._skip_hung_abort)
        # Uploads in progress, by key: None, or whether the call that failed them timed out.
        self.failures: dict[str, bool | None] = {}
        self.failures_lock = threading.Lock()
        self.transfer = TransferConfig(
            multipart_threshold=settings.S3_MULTIPART_CHUNK_BYTES,
            multipart_chunksize=settings.S3_MULTIPART_CHUNK_BYTES,
            max_concurrency=settings.S3_MAX_CONCURRENCY,
        )
        # A request body cannot seek, so every part is read into memory first; s3transfer
        # keeps up to 10 such parts by default. One per concurrent part keeps memory at
        # about S3_MULTIPART_CHUNK_BYTES x S3_MAX_CONCURRENCY per upload.
        self.transfer.max_in_memory_upload_chunks = settings.S3_MAX_CONCURRENCY

    # s3transfer goes on reading a non-seekable body to its end after a part has failed,
    # and then aborts the parts: against a storage that stopped answering, that held the
    # request for the rest of the client's upload and one more timeout. These hooks (run in
    # s3transfer's threads) let the reader stop at the first failed call, and skip an abort
    # that would only time out too (`manage.py reconcile_storage` aborts those parts later).

    def _note_key(self, params: dict[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
        context["restapi_key"] = params.get("Key")

    def _note_failure(self, exception: Exception, context: dict[str, Any], **kwargs: Any) -> None:
        key = context.get("restapi_key")
        with self.failures_lock:
            if key in self.failures and self.failures[key] is None:
                self.failures[key] = _waited_out(exception)

    def _skip_hung_abort(self, params: dict[str, Any], **kwargs: Any) -> None:
        if self.failures.get(params["Key"]):
            raise StorageError("not aborted: storage timed out on this upload")

    def put(self, key: str, reader: HashingReader, content_type: str) -> None:
        extra = {"ContentType": content_type, "StorageClass": settings.S3_STORAGE_CLASS}
        with self.failures_lock:
            self.failures[key] = None
        reader.abandoned = lambda: self.failures.get(key) is not None
        try:
            self.client.upload_fileobj(
                reader, self.bucket, key, ExtraArgs=extra, Config=self.transfer
            )
        finally:
            with self.failures_lock:
                del self.failures[key]

    def open(self, key: str) -> tuple[Iterator[bytes], Any]:
        """The object's chunks, and what to close when done with them."""
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return body.iter_chunks(CHUNK_BYTES), body

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def delete_many(self, keys: list[str]) -> None:
        """At most DELETE_BATCH keys, in one call; deleting a missing key is no error."""
        answer = self.client.delete_objects(
            Bucket=self.bucket,
            Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
        )
        if errors := answer.get("Errors"):
            first = errors[0]
            raise StorageError(
                f"{len(errors)} of {len(keys)} objects not deleted, e.g. {first.get('Key')}: "
                f"{first.get('Code')} {first.get('Message')}"
            )

    def prune(self, prefix: str) -> None:
        """S3 has no folders to leave behind."""

    def keys(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"], item["LastModified"]

    def incomplete_uploads(self, prefix: str) -> Iterator[tuple[str, str, datetime]]:
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        for page in pages:
            for upload in page.get("Uploads", []):
                yield upload["Key"], upload["UploadId"], upload["Initiated"]

    def abort_upload(self, key: str, upload_id: str) -> None:
        self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def presigned_url(self, key: str, *, filename_header: str, content_type: str) -> str:
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": filename_header,
                    "ResponseContentType": content_type,
                },
                ExpiresIn=settings.S3_PRESIGNED_URL_EXPIRY_SECONDS,
            )
        )

    def sloc(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


# A local file's `sloc`: "local:" and its key, as an S3 object's is "s3://bucket/" and its key.
LOCAL_SCHEME = "local:"


class LocalBackend:
    def __init__(self) -> None:
        self.root: Path = settings.USER_DATA_DIR

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise StorageError("key outside the data directory")
        return path

    def put(self, key: str, reader: HashingReader, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed, so a failed upload leaves no partial file.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                while data := reader.read(CHUNK_BYTES):
                    out.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def open(self, key: str) -> tuple[Iterator[bytes], Any]:
        source = self._path(key).open("rb")
        return iter(lambda: source.read(CHUNK_BYTES), b""), source

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_many(self, keys: list[str]) -> None:
        for key in keys:
            self.delete(key)

    def prune(self, prefix: str) -> None:
        """Removes the folders left empty under the prefix, and the prefix's own (a user's
        folder is named by their id)."""
        base = self._path(prefix)
        if not base.is_dir():
            return
        # Deepest first, so that a folder whose subfolders were all empty goes too.
        folders = sorted((path for path in base.rglob("*") if path.is_dir()), reverse=True)
        for folder in [*folders, base]:
            if not any(folder.iterdir()):
                folder.rmdir()

    def _files(self, prefix: str, *, partial: bool) -> Iterator[tuple[Path, datetime]]:
        base = self._path(prefix) if prefix else self.root
        for path in base.rglob("*"):
            if path.is_file() and path.name.startswith(".upload-") == partial:
                yield path, datetime.fromtimestamp(path.stat().st_mtime).astimezone()

    def keys(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        for path, modified in self._files(prefix, partial=False):
            yield str(path.relative_to(self.root)), modified

    def incomplete_uploads(self, prefix: str) -> Iterator[tuple[str, str, datetime]]:
        for path, modified in self._files(prefix, partial=True):
            yield str(path.relative_to(self.root)), "", modified

    def abort_upload(self, key: str, upload_id: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def sloc(self, key: str) -> str:
        # The key within USER_DATA_DIR, not a file:// URL: clients (and Kafka consumers)
        # get `sloc`, and the server's directory layout is none of their business.
        return f"{LOCAL_SCHEME}{key}"


@cache
def _backend(to_s3: bool, bucket: str, endpoint: str | None, directory: str) -> Backend:
    return S3Backend() if to_s3 else LocalBackend()


def backend() -> Backend:
    return _backend(
        settings.S3_DATA_UPLOAD_TO_S3,
        settings.S3_DATA_BUCKET,
        settings.S3_ENDPOINT_URL,
        str(settings.USER_DATA_DIR),
    )


@cache
def _transfer_slots(size: int) -> tuple[threading.BoundedSemaphore, threading.BoundedSemaphore]:
    """The process's transfer slots, and as many places to wait for one."""
    return threading.BoundedSemaphore(size), threading.BoundedSemaphore(size)


def _take_slot() -> Callable[[], None]:
    """A transfer slot of this process, or Busy; returns its release. A burst of transfers
    waits up to USER_DATA_TRANSFER_WAIT_SECONDS for a slot, but no more of them wait than
    there are slots, so storage that hangs holds at most twice the slots' threads."""
    slots, waiting = _transfer_slots(settings.USER_DATA_MAX_TRANSFERS)
    if not take_or_wait(slots, waiting, settings.USER_DATA_TRANSFER_WAIT_SECONDS):
        raise Busy()
    return slots.release


@contextmanager
def _transfer_slot() -> Iterator[None]:
    release = _take_slot()
    try:
        yield
    finally:
        release()


@contextmanager
def _storage_failures() -> Iterator[None]:
    """What the backends raise when storage fails, as StorageError."""
    try:
        yield
    except (BotoCoreError, ClientError, OSError) as exc:
        raise StorageError(str(exc)) from exc


def _put(key: str, reader: HashingReader, content_type: str) -> Stored:
    with _storage_failures():
        backend().put(key, reader, content_type)
    return reader.stored(key)


def upload_stream(key: str, stream: BinaryIO, *, content_type: str, length: int) -> Stored:
    """Streams exactly `length` bytes to storage. Raises Busy (before reading any byte),
    BodyError or TooLarge if the stream fails or does not hold `length` bytes, and
    StorageError if storage fails."""
    with _transfer_slot():
        return _put(key, HashingReader(stream, length), content_type)


def upload_file(key: str, path: Path, *, content_type: str) -> Stored:
    with path.open("rb") as source:
        return upload_stream(key, source, content_type=content_type, length=path.stat().st_size)


def upload_bytes(key: str, data: bytes, *, content_type: str) -> Stored:
    return upload_stream(key, io.BytesIO(data), content_type=content_type, length=len(data))


def _open(key: str) -> tuple[Iterator[bytes], Any]:
    try:
        return backend().open(key)
    except FileNotFoundError as exc:
        raise Missing(str(exc)) from exc
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise Missing(str(exc)) from exc
        raise StorageError(str(exc)) from exc
    except (BotoCoreError, OSError) as exc:
        raise StorageError(str(exc)) from exc


def download_chunks(key: str) -> Chunks:
    """Opens the object now (so a missing or unreachable one fails before any byte is sent).
    The transfer slot it takes is held until the Chunks are closed."""
    release = _take_slot()
    try:
        chunks, resource = _open(key)
    except BaseException:
        release()
        raise
    return Chunks(chunks, resource, release)


# Background jobs (an export, an erasure) run on threads of their own: they take no
# transfer slot, which bound what storage can hold of the request threads.


@contextmanager
def object_chunks(key: str) -> Iterator[Iterator[bytes]]:
    """An object's bytes, a chunk at a time, read as they are asked for."""
    chunks, resource = _open(key)
    try:
        yield _storage_errors(chunks)
    finally:
        resource.close()


def _storage_errors(chunks: Iterator[bytes]) -> Iterator[bytes]:
    with _storage_failures():
        yield from chunks


def upload_unsized(key: str, stream: Source, *, content_type: str) -> Stored:
    """Streams everything `stream` gives, to its end, to storage (an archive being made)."""
    return _put(key, HashingReader(stream, None), content_type)


# Keys per DeleteObjects call: S3's limit.
DELETE_BATCH = 1000


def _batches(keys: Iterable[str]) -> Iterator[list[str]]:
    """The keys, DELETE_BATCH at a time: one DeleteObjects call each."""
    batch: list[str] = []
    for key in keys:
        batch.append(key)
        if len(batch) == DELETE_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def delete_keys(keys: list[str]) -> None:
    """Deletes these objects (missing ones are no error)."""
    store = backend()
    with _storage_failures():
        for batch in _batches(keys):
            store.delete_many(batch)


def delete_prefix(prefix: str) -> int:
    """Deletes every object and incomplete upload under the prefix (which should end with
    "/"), and what a local directory keeps of it; returns how many objects there were."""
    store = backend()
    with _storage_failures():
        for upload_key, upload_id, _ in list(store.incomplete_uploads(prefix)):
            store.abort_upload(upload_key, upload_id)
        deleted = 0
        for batch in _batches(key for key, _ in store.keys(prefix)):
            store.delete_many(batch)
            deleted += len(batch)
        store.prune(prefix)
    return deleted


def presigned_url(key: str, *, filename_header: str, content_type: str) -> str | None:
    """A short-lived URL that downloads the object, or None where the storage has none (a
    local directory)."""
    store = backend()
    if not isinstance(store, S3Backend):
        return None
    return store.presigned_url(key, filename_header=filename_header, content_type=content_type)


def download_file(key: str, path: Path) -> None:
    with path.open("wb") as out, closing(download_chunks(key)) as chunks:
        for data in chunks:
            out.write(data)


def download_bytes(key: str) -> bytes:
    with closing(download_chunks(key)) as chunks:
        return b"".join(chunks)


def sha256_and_size(key: str) -> tuple[str, int]:
    """The SHA-256 (hex) and size of a stored object, streamed through in chunks."""
    digest, size = hashlib.sha256(), 0
    with closing(download_chunks(key)) as chunks:
        for data in chunks:
            digest.update(data)
            size += len(data)
    return digest.hexdigest(), size


def delete(key: str) -> None:
    with _storage_failures():
        backend().delete(key)
