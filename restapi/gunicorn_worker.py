"""gunicorn's gthread worker, with each request read in the event loop before a thread takes it.

Stock gthread hands a connection to a thread once its first byte arrives; the thread then
blocks on the TLS handshake, the headers and the body. A client that trickles them holds
the thread as long as it likes, so `workers x threads` slow clients stall the service
(slowloris), health probes included. Here the main loop does the handshake and reads
without blocking until the request head is in memory, and for a body of up to
BUFFERED_BODY_MAX_BYTES (every JSON route's) the whole body, under deadlines as nginx's
client_header_timeout/client_body_timeout or Apache's mod_reqtimeout set them:

- the head (TLS handshake included) within API_HEADER_TIMEOUT_SECONDS of the connection
  or of the next request's first byte;
- a body within API_BODY_TIMEOUT_SECONDS plus one second per API_BODY_MIN_RATE_BYTES
  received, a minimum average rate; a streamed upload's thread enforces the same deadline
  on every read of the socket.

Only a complete request (or an upload's complete head) reaches a thread, so slow clients
cost memory in the loop, not threads. A client silent for API_READ_TIMEOUT_SECONDS while
its thread reads its body or writes its response is dropped. Errors the worker answers
itself (a late head, a malformed one, gunicorn's own 400/414/431) are JSON like every
other error, and a connection whose request body was not read is closed rather than kept
alive.
"""

import contextlib
import errno
import json
import os
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from functools import partial
from http import HTTPStatus
from typing import Any

from gunicorn import sock as gsock
from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.http import get_parser
from gunicorn.http.unreader import SocketUnreader
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers import gthread

from restapi.codes import ErrorCode
from restapi.env import env_int

HEADER_TIMEOUT_SECONDS = env_int("API_HEADER_TIMEOUT_SECONDS", 10)
BODY_TIMEOUT_SECONDS = env_int("API_BODY_TIMEOUT_SECONDS", 10)
BODY_MIN_RATE_BYTES = env_int("API_BODY_MIN_RATE_BYTES", 16384)
# The longest a client may stay silent mid-request: between two reads of a body its
# thread reads, or while a response waits to be written.
SILENCE_TIMEOUT_SECONDS = env_int("API_READ_TIMEOUT_SECONDS", 10)

# JSON bodies are at most 1 MiB (settings.JSON_BODY_MAX_BYTES); larger ones are uploads,
# read by their thread, or refused with 413 before they are read.
BUFFERED_BODY_MAX_BYTES = 1024 * 1024
# gunicorn's own limits (request line 4094, 100 fields of 8190) would allow ~800 KiB.
HEAD_MAX_BYTES = 64 * 1024
# Bodies held in the loop at once, per worker process: past it a request gets a 503
# rather than the process more memory.
BUFFER_BUDGET_BYTES = 64 * 1024 * 1024
# How long a closing connection may take to acknowledge the close (RFC 9112 section 9.6).
LINGER_SECONDS = 2.0
READ_SIZE = 64 * 1024


def error_response(status: int, code: ErrorCode, msg: str) -> bytes:
    """A complete HTTP response with the JSON error body, closing the connection."""
    body = json.dumps({"msg": msg, "code": code}, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def tls_pending(sock: socket.socket) -> bool:
    """Whether TLS holds decrypted bytes the poller cannot see on the socket."""
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


class TimedSocket(socket.socket):
    """gunicorn makes a connection's socket "blocking" before each request; blocking here
    means for at most the write timeout (reads set their own deadline)."""

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(SILENCE_TIMEOUT_SECONDS)
        else:
            super().setblocking(False)


class TimedSSLSocket(ssl.SSLSocket):
    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(SILENCE_TIMEOUT_SECONDS)
        else:
            super().setblocking(False)


class DeadlineUnreader(SocketUnreader):  # type: ignore[misc]
    """Reads a request body from the socket under the body deadline, which each byte
    received moves on by 1/BODY_MIN_RATE_BYTES s; and no read waits longer than the
    silence timeout, however much credit a fast start earned."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.start_body()

    def start_body(self) -> None:
        self.started = time.monotonic()
        self.received = 0

    def chunk(self, size_hint: int | None = None) -> bytes:
        deadline = self.started + BODY_TIMEOUT_SECONDS + self.received / BODY_MIN_RATE_BYTES
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request body arrived too slowly")
        self.sock.settimeout(min(remaining, SILENCE_TIMEOUT_SECONDS))
        try:
            data: bytes = super().chunk(size_hint)
        finally:
            self.sock.settimeout(SILENCE_TIMEOUT_SECONDS)
        self.received += len(data)
        return data


class Head:
    """What the loop needs from a request head; gunicorn's parser stays the authority."""

    def __init__(self, raw: bytes) -> None:
        lines = raw.split(b"\r\n")
        self.content_length = 0
        self.chunked = False
        self.expect_continue = False
        self.valid = True
        lengths = set()
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip()
            if name == b"content-length":
                lengths.add(value)
            elif name == b"transfer-encoding":
                self.chunked = True
            elif name == b"expect":
                self.expect_continue = value.lower() == b"100-continue"
        if len(lengths) > 1 or not all(value.isdigit() for value in lengths):
            self.valid = False
        elif lengths:
            self.content_length = int(lengths.pop())


class Conn(gthread.TConn):  # type: ignore[misc]
    """A connection, with what the loop has read of its next request."""

    def __init__(self, cfg: Any, sock: socket.socket, client: Any, server: Any) -> None:
        super().__init__(cfg, sock, client, server)
        self.parser: Any = None
        self.handshaken = not cfg.is_ssl
        self.staged = bytearray()
        self.head: Head | None = None
        self.head_size = 0
        self.scanned = 0
        self.reserved = 0
        self.body_in_memory = 0
        self.want_write = False
        self.started = self.deadline = 0.0
        self.ready = False
        self.on_close: Callable[[Conn], None] | None = None

    def init(self) -> None:
        """In the request's thread: a parser whose buffer holds what the loop read."""
        if self.parser is None:
            self.parser = get_parser(self.cfg, self.sock, self.client)
            self.parser.unreader = DeadlineUnreader(self.sock)
        self.initialized = True
        self.parser.unreader.unread(bytes(self.staged))
        self.parser.unreader.start_body()
        self.staged.clear()

    def body_unread(self) -> bool:
        """Whether the request's body has bytes neither read by the app nor in memory."""
        if self.head is None:
            return False
        read = self.body_in_memory + self.parser.unreader.received
        return bool(self.head.content_length > read)

    def close(self, graceful: bool = False) -> None:
        if graceful and self.on_close is not None:
            self.on_close(self)
        else:
            util.close(self.sock)


class ThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]
    def init_process(self) -> None:
        self.staging: set[Conn] = set()
        self.lingering: dict[Conn, float] = {}
        self.buffered_bytes = 0
        self.current = threading.local()
        self._tls: tuple[ssl.SSLContext, tuple[float, ...]] | None = None
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi: Any = self.closing_unread_bodies(self.wsgi)

    def closing_unread_bodies(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Any]:
        """A response sent before its request's body was read says `Connection: close`:
        the body is never drained, so the connection cannot carry another request."""
        current = self.current

        def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
            def start(status: str, headers: list[Any], exc_info: Any = None) -> Any:
                if current.conn.body_unread():
                    start_response.__self__.force_close()
                return start_response(status, headers, exc_info)

            return app(environ, start)

        return wrapped

    # Accepting and staging, in the main loop.

    def tls_context(self) -> ssl.SSLContext:
        """One context per process, made again when the certificate or key file changes
        (gunicorn would build one, re-reading both files, for every connection)."""
        stamp = tuple(os.stat(path).st_mtime for path in (self.cfg.certfile, self.cfg.keyfile))
        if self._tls is None or self._tls[1] != stamp:
            context = gsock.ssl_context(self.cfg)
            context.sslsocket_class = TimedSSLSocket
            self._tls = (context, stamp)
        return self._tls[0]

    def accept(self, listener: socket.socket) -> None:
        try:
            accepted, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        client: socket.socket = TimedSocket(fileno=accepted.detach())
        client.setblocking(False)
        try:
            if self.cfg.is_ssl:
                client = self.tls_context().wrap_socket(
                    client,
                    server_side=True,
                    do_handshake_on_connect=False,
                    suppress_ragged_eofs=self.cfg.suppress_ragged_eofs,
                )
        except (OSError, ssl.SSLError):
            self.nr_conns -= 1
            util.close(client)
            return
        conn = Conn(self.cfg, client, client_addr, listener.getsockname())
        conn.on_close = self.linger
        self.stage(conn)

    def enqueue_req(self, conn: Conn) -> None:
        if conn.ready:
            conn.ready = False
            super().enqueue_req(conn)
        else:
            # A kept-alive connection with the next request already (partly) read.
            conn.staged += conn.parser.unreader.take_buffered()
            self.stage(conn)

    def on_client_socket_readable(self, conn: Conn, client: socket.socket) -> None:
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self.stage(conn)

    def finish_request(self, conn: Conn, fs: Any) -> None:
        super().finish_request(conn, fs)
        # Read-ahead that TLS decrypted but nobody consumed does not wake the poller.
        if tls_pending(conn.sock) and conn in self.keepalived_conns:
            self.on_client_socket_readable(conn, conn.sock)

    def stage(self, conn: Conn) -> None:
        conn.head, conn.head_size, conn.scanned = None, 0, 0
        conn.started = time.monotonic()
        conn.deadline = conn.started + HEADER_TIMEOUT_SECONDS
        conn.sock.setblocking(False)
        self.staging.add(conn)
        self.poller.register(
            conn.sock, selectors.EVENT_READ, partial(self.on_staged_readable, conn)
        )
        if conn.staged:
            self.progress(conn)
        if conn in self.staging and (conn.staged or tls_pending(conn.sock)):
            self.on_staged_readable(conn, conn.sock)

    def on_staged_readable(self, conn: Conn, client: socket.socket) -> None:
        try:
            if not conn.handshaken:
                conn.sock.do_handshake()
                conn.handshaken = True
            # Reads until the socket is drained or the loop has what it needs: an upload's
            # body is left for its thread, read at most one READ_SIZE past its head.
            while conn in self.staging:
                data = conn.sock.recv(READ_SIZE)
                if not data:
                    self.drop(conn)
                    return
                conn.staged += data
                self.progress(conn)
        except (BlockingIOError, ssl.SSLWantReadError):
            self.watch(conn, selectors.EVENT_READ)
        except ssl.SSLWantWriteError:
            self.watch(conn, selectors.EVENT_WRITE)
        except (OSError, ssl.SSLError) as exc:
            self.log.debug("Dropped a connection while reading its request: %s", exc)
            self.drop(conn)

    def watch(self, conn: Conn, events: int) -> None:
        """What the TLS layer waits for: mostly reads, a write during a handshake."""
        want_write = events == selectors.EVENT_WRITE
        if conn in self.staging and conn.want_write != want_write:
            conn.want_write = want_write
            self.poller.modify(conn.sock, events, partial(self.on_staged_readable, conn))

    def progress(self, conn: Conn) -> None:
        if conn.head is None:
            # Empty lines before a request line are allowed (RFC 9112 section 2.2).
            while conn.staged.startswith(b"\r\n"):
                del conn.staged[:2]
            # Only the new bytes are searched: a head trickled a byte at a time stays linear.
            end = conn.staged.find(b"\r\n\r\n", max(0, conn.scanned - 3))
            conn.scanned = len(conn.staged)
            if end < 0:
                if len(conn.staged) > HEAD_MAX_BYTES:
                    self.refuse(
                        conn, 431, ErrorCode.HEADERS_TOO_LARGE, "The request head is too large."
                    )
                return
            conn.head_size = end + 4
            conn.head = Head(bytes(conn.staged[:end]))
            if not self.start_body(conn, conn.head):
                return
        if len(conn.staged) >= conn.head_size + conn.reserved:
            self.dispatch(conn)

    def start_body(self, conn: Conn, head: Head) -> bool:
        """Decides how the body is read: here, by the request's thread, or not at all."""
        if not head.valid:
            self.refuse(conn, 400, ErrorCode.BAD_REQUEST, "Invalid Content-Length.")
            return False
        if head.chunked:
            self.refuse(
                conn, 411, ErrorCode.LENGTH_REQUIRED, "Send the body with a Content-Length header."
            )
            return False
        length = head.content_length
        if length == 0 or length > BUFFERED_BODY_MAX_BYTES:
            return True
        if self.buffered_bytes + length > BUFFER_BUDGET_BYTES:
            self.refuse(conn, 503, ErrorCode.OVERLOADED, "The service is busy; retry shortly.")
            return False
        conn.reserved = length
        self.buffered_bytes += length
        conn.deadline = time.monotonic() + BODY_TIMEOUT_SECONDS + length / BODY_MIN_RATE_BYTES
        if head.expect_continue and len(conn.staged) < conn.head_size + length:
            # The client waits for this before sending the body; gunicorn may send its own
            # again later, which HTTP allows (any number of 1xx before the response).
            self.send_now(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def dispatch(self, conn: Conn) -> None:
        self.unstage(conn)
        conn.body_in_memory = len(conn.staged) - conn.head_size
        # gthread's handle() would otherwise wait for the socket to be readable, and the
        # loop has already read what there was.
        conn.data_ready = conn.ready = True
        self.enqueue_req(conn)

    def unstage(self, conn: Conn) -> None:
        self.staging.discard(conn)
        self.buffered_bytes -= conn.reserved
        conn.reserved, conn.want_write = 0, False
        with contextlib.suppress(KeyError, ValueError):
            self.poller.unregister(conn.sock)

    def send_now(self, conn: Conn, data: bytes) -> None:
        try:
            conn.sock.send(data)
        except (OSError, ssl.SSLError):
            self.log.debug("Could not write to a client that is being refused")

    def refuse(self, conn: Conn, status: int, code: ErrorCode, msg: str) -> None:
        self.log.info("Refused a request from %s: %s", conn.client[0], msg)
        self.unstage(conn)
        response = error_response(status, code, msg)
        self.send_now(conn, response)
        self.log.refusal(
            remote=conn.client[0],
            head=bytes(conn.staged[:READ_SIZE]),
            status=status,
            size=len(response),
            seconds=time.monotonic() - conn.started,
        )
        self.linger(conn)

    def drop(self, conn: Conn) -> None:
        if conn.head is not None:
            self.log.info(
                "A client at %s left before its request body was complete", conn.client[0]
            )
        self.unstage(conn)
        self.nr_conns -= 1
        util.close(conn.sock)

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn in [conn for conn in self.staging if conn.deadline <= now]:
            if conn.staged:
                what = "request body" if conn.head else "request head"
                self.refuse(conn, 408, ErrorCode.REQUEST_TIMEOUT, f"The {what} arrived too slowly.")
            else:
                # Nothing to answer: a TLS handshake that never finished, or no request.
                self.log.info("Closed a connection from %s that sent no request", conn.client[0])
                self.drop(conn)
        for conn in [conn for conn, until in self.lingering.items() if until <= now]:
            self.end_linger(conn)

    # Closing without blocking the loop.

    def linger(self, conn: Conn) -> None:
        """Half-closes, then drains what the client still sends until it closes too
        (or LINGER_SECONDS pass), so that the kernel does not reset the last response."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_linger, conn))
        except (OSError, ValueError, KeyError):
            self.nr_conns -= 1
            util.close(conn.sock)
            return
        self.lingering[conn] = time.monotonic() + LINGER_SECONDS

    def on_linger(self, conn: Conn, client: socket.socket) -> None:
        try:
            while conn.sock.recv(READ_SIZE):
                pass
        except (BlockingIOError, ssl.SSLWantReadError):
            return
        except (OSError, ssl.SSLError):
            pass
        self.end_linger(conn)

    def end_linger(self, conn: Conn) -> None:
        del self.lingering[conn]
        with contextlib.suppress(KeyError, ValueError):
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        util.close(conn.sock)

    # In the request's thread.

    def handle(self, conn: Conn) -> Any:
        self.current.conn = conn
        try:
            return super().handle(conn)
        finally:
            self.current.conn = None

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: Exception) -> None:
        """gunicorn's own error answers, as JSON: 400 for a request it cannot parse, 414 and
        431 past its limits, 500 for the rest (the application's errors are its own)."""
        status, code, msg = self.error_for(exc)
        if status >= 500:
            self.log.error("Error handling request", exc_info=exc)
        else:
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        if req is not None:
            environ = default_environ(req, client, self.cfg)
            resp = Response(req, client, self.cfg)
            resp.status = f"{status} {HTTPStatus(status).phrase}"
            resp.response_length = 0
            self.log.access(resp, req, environ, timedelta(0))
        try:
            util.write_nonblock(client, error_response(status, code, msg))
        except Exception:
            self.log.debug("Failed to send error message.")

    @staticmethod
    def error_for(exc: Exception) -> tuple[int, ErrorCode, str]:
        if isinstance(
            exc,
            http_errors.InvalidResponseHeader
            | http_errors.InvalidResponseHeaderName
            | http_errors.ConfigurationProblem,
        ):
            return 500, ErrorCode.INTERNAL_ERROR, "An internal error occurred."
        if isinstance(exc, http_errors.LimitRequestLine):
            return 414, ErrorCode.URI_TOO_LONG, "The request line is too long."
        if isinstance(exc, http_errors.LimitRequestHeaders):
            return 431, ErrorCode.HEADERS_TOO_LARGE, "The request headers are too large."
        if isinstance(exc, http_errors.ExpectationFailed):
            return 417, ErrorCode.EXPECTATION_FAILED, "Only Expect: 100-continue is understood."
        if isinstance(exc, http_errors.UnsupportedTransferCoding):
            return 501, ErrorCode.NOT_IMPLEMENTED, "This transfer coding is not supported."
        if isinstance(exc, http_errors.ForbiddenProxyRequest):
            return 403, ErrorCode.PERMISSION_DENIED, "Proxy requests are not allowed."
        if isinstance(exc, http_errors.ParseException | ssl.SSLError):
            return 400, ErrorCode.BAD_REQUEST, "The request is not valid HTTP."
        return 500, ErrorCode.INTERNAL_ERROR, "An internal error occurred."
