"""A 256 MiB file up and down through the service beside direct boto3 to the same moto
server, and how much the workers' RSS grows meanwhile."""

import contextlib
import json
import os
import time
from pathlib import Path

from bench.client import Client
from bench.report import Row, ours_at_most, ratio_at_least
from bench.run import Bench, proc_status
from bench.services import BUCKET, BenchError, s3_client

MIB = 1024 * 1024
SIZE = 256 * MIB
BLOCK = os.urandom(MIB)


class GeneratedBody:
    """SIZE bytes, read in whatever amounts the reader asks for, never all in memory."""

    def __init__(self, size: int) -> None:
        self.size, self.sent = size, 0

    def read(self, amount: int | None = -1) -> bytes:
        amount = min(MIB if amount is None or amount < 0 else amount, self.size - self.sent)
        start = self.sent % MIB
        self.sent += amount
        return (BLOCK[start:] + BLOCK * (amount // MIB + 1))[:amount]


def reset_peaks(pids: list[int]) -> dict[int, int]:
    """Each worker's RSS now (KiB), its peak reset to it (clear_refs 5)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")
    return {pid: proc_status(pid, "VmRSS") for pid in pids}


def peak_growth(before: dict[int, int]) -> float:
    """The largest growth of a worker's peak RSS since reset_peaks, in MiB."""
    return max(proc_status(pid, "VmHWM") - rss for pid, rss in before.items()) / 1024


def upload(client: Client, token: str) -> tuple[float, int]:
    conn = client.connection()
    started = time.perf_counter()
    conn.putrequest("POST", "/user/data")
    for name, value in {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/octet-stream",
        "Content-Length": str(SIZE),
        "filename": "big.bin",
    }.items():
        conn.putheader(name, value)
    conn.endheaders()
    for _ in range(SIZE // MIB):
        conn.send(BLOCK)
    response = conn.getresponse()
    body = response.read()
    seconds = time.perf_counter() - started
    if response.status != 201:
        raise BenchError(f"upload: {response.status} {body[:300]!r}")
    return seconds, int(json.loads(body)["data_id"])


def download(client: Client, token: str, data_id: int) -> float:
    conn = client.connection()
    buffer = memoryview(bytearray(MIB))
    started = time.perf_counter()
    conn.request("GET", f"/user/data/{data_id}", headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    if response.status != 200:
        raise BenchError(f"download: {response.status} {response.read()[:300]!r}")
    received = 0
    while count := response.readinto(buffer):
        received += count
    seconds = time.perf_counter() - started
    if received != SIZE:
        raise BenchError(f"downloaded {received} bytes of {SIZE}")
    return seconds


def direct(endpoint: str) -> tuple[float, float]:
    s3 = s3_client(endpoint)
    started = time.perf_counter()
    s3.upload_fileobj(GeneratedBody(SIZE), BUCKET, "bench/direct.bin")
    up = time.perf_counter() - started
    started = time.perf_counter()
    body = s3.get_object(Bucket=BUCKET, Key="bench/direct.bin")["Body"]
    received = sum(len(chunk) for chunk in body.iter_chunks(MIB))
    down = time.perf_counter() - started
    s3.delete_object(Bucket=BUCKET, Key="bench/direct.bin")
    if received != SIZE:
        raise BenchError(f"direct download: {received} bytes of {SIZE}")
    return up, down


def scenario(bench: Bench) -> None:
    (account,) = bench.accounts("files", 1)
    mb = SIZE / 1e6
    up = bench.row(Row("files", "256 MiB upload", "MB/s", "direct boto3", ratio_at_least(0.8)))
    down = bench.row(Row("files", "256 MiB download", "MB/s", "direct boto3", ratio_at_least(0.8)))
    growth = bench.row(
        Row("files", "worker peak RSS growth, up + down", "MiB", "", ours_at_most(64, "MiB"))
    )
    for _ in range(bench.args.rounds):
        client = bench.client(bench.ours)
        before = reset_peaks(bench.ours.worker_pids())
        up_seconds, data_id = upload(client, account.token)
        down_seconds = download(client, account.token, data_id)
        growth.add(peak_growth(before))
        client.expect(204, "DELETE", f"/user/data/{data_id}", token=account.token)
        client.close()
        direct_up, direct_down = direct(bench.s3_endpoint)
        up.add(mb / up_seconds, mb / direct_up)
        down.add(mb / down_seconds, mb / direct_down)
    bench.method(
        "files",
        "one 256 MiB body of random bytes sent in 1 MiB writes over one HTTPS connection"
        " (http.client) and read back in 1 MiB reads, then deleted; the reference is"
        " boto3's upload_fileobj (its default transfer settings) and a streamed get_object"
        " to the same moto server; RSS growth is the largest rise of a worker's peak RSS"
        " (VmHWM, reset before each round) over its RSS before the round",
    )
