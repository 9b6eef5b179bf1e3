"""A hung S3 for tests: a loopback listener that accepts connections and never reads or
answers, or answers its first connection with `answer` and then falls silent (a failure
injected at our storage seam, not a stand-in for S3)."""

import socket
import threading


class SilentEndpoint:
    def __init__(self, answer: bytes = b"") -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.listener.settimeout(0.2)
        self.accepted: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            if not self.accepted:
                connection.sendall(self.answer)
            self.accepted.append(connection)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)
        for connection in self.accepted:
            connection.close()
        self.listener.close()
