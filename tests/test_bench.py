"""The bench suite's own logic (no servers): percentiles, the open-loop generator's
coordinated-omission correction, the request mix, the table's medians and verdicts, the
privacy scenario's copy stream."""

import asyncio
import math
from typing import Any

import pytest

from bench import loadgen
from bench.login import Argon2
from bench.privacy import Concatenated
from bench.report import Row, faster, ours_at_most, ratio_at_least, ratio_within, table
from bench.wrk import Spec, lua_script, parse


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert loadgen.percentile(values, 50) == 50
    assert loadgen.percentile(values, 99) == 99
    assert loadgen.percentile(values, 99.9) == 100
    assert loadgen.percentile(values, 0) == 1
    assert loadgen.percentile([3.0, 1.0, 2.0], 50) == 2
    assert math.isnan(loadgen.percentile([], 99))


def test_mix_spreads_each_kind_by_its_weight() -> None:
    a, b = loadgen.Kind("a", bytes, 3), loadgen.Kind("b", bytes, 1)
    cycle = [kind.name for kind in loadgen.mix([a, b])]
    assert sorted(cycle) == ["a", "a", "a", "b"]
    assert "bb" not in "".join(cycle * 2)
    weights = [
        loadgen.Kind(name, bytes, n) for name, n in {"r": 85, "u": 8, "p": 5, "l": 2}.items()
    ]
    assert [k.name for k in loadgen.mix(weights)].count("l") == 2


class Stalling:
    """A fake connection: 1 ms per answer, except that nothing is answered between
    `stall_from` and `stall_until` (seconds after the clock's start)."""

    def __init__(self, origin: float, stall_from: float, stall_until: float) -> None:
        self.origin, self.stall_from, self.stall_until = origin, stall_from, stall_until

    async def exchange(self, request: bytes) -> int:
        now = loadgen.clock() - self.origin
        if self.stall_from <= now < self.stall_until:
            await asyncio.sleep(self.stall_until - now)
        await asyncio.sleep(0.001)
        return 200

    def close(self) -> None:
        pass


def test_open_loop_counts_a_stall_in_every_request_that_was_due_during_it() -> None:
    async def run() -> loadgen.Result:
        origin = loadgen.clock()

        async def connect() -> loadgen.Exchanger:
            return Stalling(origin, 0.3, 0.6)

        load = loadgen.Load(200, [loadgen.Kind("get", lambda i: b"GET")], 1)
        return await loadgen.open_loop(load, 1.0, connect)

    result = asyncio.run(run())
    latencies = result.latencies["get"]
    assert result.statuses[("get", 200)] == 200
    # About 60 requests were due during the 300 ms stall: each waited for its end, so the
    # slow ones are a quarter of all, not the single sample a closed loop would record.
    slow = [x for x in latencies if x > 0.05]
    assert len(slow) >= 50
    assert result.percentile("get", 99) > 0.25
    assert result.percentile("get", 50) < 0.05


def test_open_loop_counts_requests_never_answered_as_errors_with_their_wait() -> None:
    class Hung:
        async def exchange(self, request: bytes) -> int:
            await asyncio.sleep(3600)
            return 200

        def close(self) -> None:
            pass

    async def run() -> loadgen.Result:
        async def connect() -> loadgen.Exchanger:
            return Hung()

        load = loadgen.Load(100, [loadgen.Kind("get", lambda i: b"GET")], 2)
        return await loadgen.open_loop(load, 0.2, connect, drain=0.1)

    result = asyncio.run(run())
    assert result.errors["get: Timeout"] == 20
    assert len(result.latencies["get"]) == 20
    assert min(result.latencies["get"]) >= 0.09


def test_request_bytes() -> None:
    raw = loadgen.request("POST", "/login", host="h:1", headers={"A": "b"}, body=b"{}")
    assert raw == b"POST /login HTTP/1.1\r\nHost: h:1\r\nA: b\r\nContent-Length: 2\r\n\r\n{}"
    assert b"Content-Length" not in loadgen.request("GET", "/", host="h")


def test_row_medians_ratio_and_verdict() -> None:
    row = Row("get", "max rate", "req/s", "djoser", ratio_at_least(1.5))
    for ours, ref in ((300.0, 100.0), (900.0, 110.0), (310.0, 400.0)):
        row.add(ours, ref)
    assert row.ours_median() == (310.0,)
    assert row.ref_median() == (110.0,)
    assert row.ratio() == pytest.approx(310 / 110)
    assert row.verdict() == "pass"

    latency = Row("get", "p50 / p99", "ms", "bare", ours_at_most(10, "ms"), key=1)
    latency.add((1.0, 12.0), (0.5, 4.0))
    latency.add((2.0, 8.0), (0.7, 6.0))
    assert latency.ours_median() == (1.5, 10.0)
    assert latency.ratio() == pytest.approx(2.0)
    assert latency.verdict() == "pass"

    slower = Row("search", "p99", "ms", "no index", faster(50))
    slower.add(4.0, 100.0)
    assert slower.verdict() == "FAIL"
    flat = Row("soak", "rss", "MiB", "start", ratio_within(0.1))
    flat.add(105.0, 100.0)
    assert flat.verdict() == "pass"


def test_table_lines_up() -> None:
    row = Row("files", "upload", "MB/s", "boto3", ratio_at_least(0.8))
    row.add(50.0, 100.0)
    lines = table([row, Row("soak", "scenario", "", failed="failed: boom")]).splitlines()
    assert len({len(line) for line in lines}) == 1
    assert "0.50" in lines[2] and "FAIL" in lines[2]
    assert "failed: boom" in lines[3]


def test_argon2_parameters_come_from_a_stored_hash() -> None:
    params = Argon2.of_hash("argon2$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")
    assert (params.memory_kib, params.time_cost, params.parallelism) == (19456, 2, 1)
    with pytest.raises(ValueError):
        Argon2.of_hash("pbkdf2_sha256$1000000$salt$hash")


def test_wrk_output_and_script() -> None:
    output = """Running 10s test @ https://127.0.0.1:1/user/1
  32577 requests in 10.01s, 9.54MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:   3254.45
"""
    outcome = parse(output, "wrk")
    assert (outcome.rate, outcome.requests, outcome.non_2xx, outcome.socket_errors) == (
        3254.45,
        32577,
        7,
        3,
    )
    script = lua_script([Spec("PUT", "/user/data", {"A": "b"}, '{"comments": "{n}"}')])
    assert 'template = {[==[{"comments": "]==], [==["}]==]}' in script
    assert "[ [==[A]==] ] = [==[b]==]" in script


def test_a_wrk_rate_of_successes_leaves_the_refusals_out() -> None:
    output = (
        "  1000 requests in 10.00s, 1.00MB read\n"
        "  Non-2xx or 3xx responses: 750\n"
        "Requests/sec:    100.00\n"
    )
    outcome = parse(output, "wrk")
    assert (outcome.rate, outcome.ok_rate) == (100.0, 25.0)


def test_the_direct_copy_reads_the_objects_one_after_the_other_in_any_amounts() -> None:
    class Body:
        def __init__(self, data: bytes) -> None:
            self.data, self.closed = data, False

        def iter_chunks(self, size: int) -> Any:
            return (self.data[i : i + 3] for i in range(0, len(self.data), 3))

        def close(self) -> None:
            self.closed = True

    bodies = {"a": Body(b"abcdefg"), "b": Body(b""), "c": Body(b"hijklmnopq")}

    class S3:
        def get_object(self, Bucket: str, Key: str) -> dict[str, Body]:
            return {"Body": bodies[Key]}

    stream = Concatenated(S3(), ["a", "b", "c"])
    assert [stream.read(n) for n in (5, 1, 4, 100, 5)] == [b"abcde", b"f", b"ghij", b"klmnopq", b""]
    assert all(body.closed for body in bodies.values())
