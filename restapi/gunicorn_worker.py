"""gunicorn's gthread worker with a bound on every blocking socket operation.

gunicorn 27's gthread waits for a new connection's first byte with a timeout, but the TLS
handshake and the request after it then block with none, and the worker timeout does not
reap a stuck thread: a client that sends one byte and stalls holds a thread for good, so
`workers x threads` such clients stall the service (slowloris). Here every handshake step,
read and write of a request gives up after API_READ_TIMEOUT_SECONDS.
"""

import errno
import socket

from gunicorn.workers import gthread

from restapi.env import env_int

READ_TIMEOUT_SECONDS = env_int("API_READ_TIMEOUT_SECONDS", 10)


class TimedSocket(socket.socket):
    """gthread makes the accepted socket blocking (no timeout) just before the TLS
    handshake; here "blocking" means blocking for at most the read timeout."""

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(READ_TIMEOUT_SECONDS)
        else:
            super().setblocking(False)


class BoundedConn(gthread.TConn):  # type: ignore[misc]
    def init(self) -> None:
        super().init()
        # The TLS socket, made blocking again for each request on a kept-alive connection.
        self.sock.settimeout(READ_TIMEOUT_SECONDS)


class ThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]
    def accept(self, listener: socket.socket) -> None:
        """gthread's accept(), making a BoundedConn on a TimedSocket."""
        try:
            accepted, client_addr = listener.accept()
            self.nr_conns += 1
            client_sock = TimedSocket(fileno=accepted.detach())
            client_sock.setblocking(True)
            conn = BoundedConn(self.cfg, client_sock, client_addr, listener.getsockname())
            self.enqueue_req(conn)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
