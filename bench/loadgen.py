"""Open-loop HTTP/1.1 load: requests on a constant arrival schedule, each one's latency
counted from the moment it was due, not from when a connection was free to send it.

A closed-loop client (wrk) sends a connection's next request only after the last answer,
so a server that stalls for a second is sent almost nothing during the stall and the
stall shows up in one sample per connection ("coordinated omission"). Here request i is
due at start + i / rate whatever happened before it; when every connection is busy it
waits in a queue, and that wait is part of its latency.

The generator is one asyncio loop (one core). Its own lateness, how long after its due
time a request was handed to the connections, is measured and reported: if it grows, the
generator rather than the server is the limit.
"""

import asyncio
import contextlib
import math
import os
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Render = Callable[[int], bytes]
# Not the event loop's clock: uvloop's counts whole milliseconds.
clock = time.perf_counter


@dataclass(frozen=True)
class Kind:
    """One kind of request in a mix: its name, its share, and the bytes of its i-th."""

    name: str
    render: Render
    weight: int = 1


@dataclass(frozen=True)
class Load:
    """An open-loop schedule: `rate` requests a second over `connections` connections."""

    rate: float
    kinds: Sequence[Kind]
    connections: int


@dataclass
class Result:
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    # Per due request: how late the generator handed it to a connection, in seconds.
    lag: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0

    def percentile(self, kind: str, p: float) -> float:
        return percentile(self.latencies.get(kind, []), p)

    def count(self, kind: str | None = None) -> int:
        return sum(n for (name, _), n in self.statuses.items() if kind in (None, name))

    def server_errors(self) -> int:
        return sum(n for (_, status), n in self.statuses.items() if status >= 500)

    def rate(self, kind: str | None = None) -> float:
        return self.count(kind) / self.seconds if self.seconds else 0.0

    def generator_busy(self) -> float:
        """The share of one core the generator used (1.0: it was the bottleneck)."""
        return self.cpu_seconds / self.seconds if self.seconds else 0.0


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p % of them at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def mix(kinds: Sequence[Kind]) -> list[Kind]:
    """One cycle of the kinds, each `weight` times, spread out (smooth weighted round robin):
    a 3:1 mix runs a a b a, not a a a b, so no kind comes in bursts."""
    total = sum(kind.weight for kind in kinds)
    credit = [0] * len(kinds)
    cycle = []
    for _ in range(total):
        for i, kind in enumerate(kinds):
            credit[i] += kind.weight
        best = max(range(len(kinds)), key=lambda i: credit[i])
        credit[best] -= total
        cycle.append(kinds[best])
    return cycle


class Exchanger(Protocol):
    async def exchange(self, request: bytes) -> int: ...

    def close(self) -> None: ...


Connect = Callable[[], Awaitable[Exchanger]]


class Timeout(Exception):
    """A request that had no answer when the run's drain time ran out."""


async def open_loop(load: Load, seconds: float, connect: Connect, drain: float = 10) -> Result:
    """Sends rate x seconds requests on the schedule; waits at most `drain` seconds after
    the last one is due for the answers. An answer that never came counts as an error
    with its latency up to the end of the drain (a lower bound)."""
    cycle = mix(load.kinds)
    result = Result(seconds=seconds)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    in_flight: dict[int, tuple[str, float]] = {}
    connections = list(await asyncio.gather(*(connect() for _ in range(load.connections))))
    total = int(load.rate * seconds)
    start = clock() + 0.01
    cpu_start = time.process_time()

    async def dispatch() -> None:
        for i in range(total):
            due = start + i / load.rate
            delay = due - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            result.lag.append(clock() - due)
            queue.put_nowait((i, due))
        for _ in connections:
            queue.put_nowait(None)

    async def work(slot: int) -> None:
        while (item := await queue.get()) is not None:
            i, due = item
            kind = cycle[i % len(cycle)]
            in_flight[i] = (kind.name, due)
            try:
                status = await connections[slot].exchange(kind.render(i))
            except (OSError, EOFError, ValueError, asyncio.IncompleteReadError) as exc:
                del in_flight[i]
                result.errors[f"{kind.name}: {type(exc).__name__}"] += 1
                connections[slot].close()
                connections[slot] = await reconnect(connect, result, kind.name)
                continue
            del in_flight[i]
            result.latencies.setdefault(kind.name, []).append(clock() - due)
            result.statuses[(kind.name, status)] += 1

    workers = [asyncio.ensure_future(work(slot)) for slot in range(len(connections))]
    await dispatch()
    end = start + total / load.rate + drain
    _, pending = await asyncio.wait(workers, timeout=max(0.0, end - clock()))
    for task in pending:
        task.cancel()
    now = clock()
    unanswered = list(in_flight.values())
    while not queue.empty():
        item = queue.get_nowait()
        if item is not None:
            unanswered.append((cycle[item[0] % len(cycle)].name, item[1]))
    for name, due in unanswered:
        result.latencies.setdefault(name, []).append(now - due)
        result.errors[f"{name}: {Timeout.__name__}"] += 1
    result.cpu_seconds = time.process_time() - cpu_start
    for connection in connections:
        connection.close()
    return result


async def reconnect(connect: Connect, result: Result, name: str) -> Exchanger:
    while True:
        try:
            return await connect()
        except OSError as exc:
            result.errors[f"{name}: connect {type(exc).__name__}"] += 1
            await asyncio.sleep(0.05)


async def closed_loop(
    kinds: Sequence[Kind], connections: int, seconds: float, connect: Connect
) -> Result:
    """Each connection sends its next request when the last answer is in (latency from
    the send): for sequential probes such as one admin searching."""
    cycle = mix(kinds)
    result = Result(seconds=seconds)
    opened = list(await asyncio.gather(*(connect() for _ in range(connections))))
    end = clock() + seconds
    counter = iter(range(1 << 62))

    async def work(connection: Exchanger) -> None:
        while clock() < end:
            i = next(counter)
            kind = cycle[i % len(cycle)]
            sent = clock()
            try:
                status = await connection.exchange(kind.render(i))
            except (OSError, EOFError, ValueError, asyncio.IncompleteReadError) as exc:
                result.errors[f"{kind.name}: {type(exc).__name__}"] += 1
                connection.close()
                connection = await reconnect(connect, result, kind.name)
                continue
            result.latencies.setdefault(kind.name, []).append(clock() - sent)
            result.statuses[(kind.name, status)] += 1
        connection.close()

    await asyncio.gather(*(work(connection) for connection in opened))
    return result


class Connection:
    """One keep-alive HTTP/1.1 connection (TLS or plain); reopens itself after a close."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> "Connection":
        self.reader, self.writer = await asyncio.open_connection(
            self.host, self.port, ssl=self.tls, server_hostname=self.host if self.tls else None
        )
        return self

    async def exchange(self, request: bytes) -> int:
        if self.reader is None or self.writer is None:
            await self.open()
        reader, writer = self.reader, self.writer
        if reader is None or writer is None:
            raise ConnectionError("not connected")
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked, close = 0, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = value.strip().lower() == b"close"
        if chunked:
            await self._chunks(reader)
        elif length:
            await reader.readexactly(length)
        if close:
            self.close()
        return status

    @staticmethod
    async def _chunks(reader: asyncio.StreamReader) -> None:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                return

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def connector(host: str, port: int, tls: ssl.SSLContext | None) -> Connect:
    async def connect() -> Exchanger:
        return await Connection(host, port, tls).open()

    return connect


def run(work: Callable[[], Coroutine[Any, Any, list[Result]]]) -> list[Result]:
    """Runs the coroutine on uvloop when it is installed (less generator CPU per request),
    at a raised priority where allowed: on a shared machine a generator that waits for a
    core sends late, and its lateness would be counted as the server's latency."""
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, 0, niceness - 5)
    try:
        try:
            import uvloop
        except ImportError:
            return asyncio.run(work())
        return uvloop.run(work())
    finally:
        with contextlib.suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, 0, niceness)


def request(
    method: str,
    path: str,
    *,
    host: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> bytes:
    """The bytes of one HTTP/1.1 request with Content-Length (every route wants one)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
