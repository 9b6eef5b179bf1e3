#!/usr/bin/env python
"""Upload and download MB/s through the HTTPS service beside direct boto3, same moto server.

    .venv/bin/python bench/files.py [--mib 256]

Starts moto_server and gunicorn (S3 mode), sends a generated file of --mib MiB each way,
and prints MB/s for both paths and the worker's peak RSS growth during the upload.
"""

import argparse
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import requests
from common import URL, free_port, register, running_server, session

MIB = 1024 * 1024
BUCKET = "restapi-bench"


class GeneratedBody:
    def __init__(self, size: int) -> None:
        self.size, self.sent = size, 0
        self.block = hashlib.sha256(b"bench").digest() * (MIB // 32)

    def __len__(self) -> int:
        return self.size

    def read(self, amount: int = -1) -> bytes:
        amount = min(MIB if amount is None or amount < 0 else amount, self.size - self.sent)
        self.sent += amount
        return (self.block * (amount // len(self.block) + 1))[:amount]


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    args = parser.parse_args()
    size = args.mib * MIB
    endpoint = f"http://127.0.0.1:{free_port()}"
    moto = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "moto_server"),
            "-H",
            "127.0.0.1",
            "-p",
            endpoint.rsplit(":", 1)[1],
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    credentials = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    os.environ.update(credentials)
    try:
        for _ in range(100):
            try:
                requests.get(endpoint, timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=BUCKET)
        env = {
            "S3_DATA_UPLOAD_TO_S3": "1",
            "S3_DATA_BUCKET": BUCKET,
            "S3_ENDPOINT_URL": endpoint,
            "API_WORKERS": "1",
        }
        with running_server(env) as server:
            auth = register("files@example.com")
            http = session()
            http.post(f"{URL}/user/data", data=b"warm", headers={**auth, "filename": "warm"})
            worker = int(
                Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()[0]
            )
            before = rss_kib(worker, "VmRSS")
            start = time.perf_counter()
            response = http.post(
                f"{URL}/user/data",
                data=GeneratedBody(size),
                headers={**auth, "filename": "big.bin"},
            )
            upload_s = time.perf_counter() - start
            record = response.json()["data"]
            growth = (rss_kib(worker, "VmHWM") - before) / 1024
            start = time.perf_counter()
            received = 0
            with http.get(
                f"{URL}/user/data/{record['data_id']}", headers=auth, stream=True
            ) as download:
                for chunk in download.iter_content(MIB):
                    received += len(chunk)
            download_s = time.perf_counter() - start
            if received != size:
                raise SystemExit(f"downloaded {received} bytes, expected {size}")

        start = time.perf_counter()
        s3.upload_fileobj(GeneratedBody(size), BUCKET, "direct.bin")
        direct_up = time.perf_counter() - start
        start = time.perf_counter()
        body = s3.get_object(Bucket=BUCKET, Key="direct.bin")["Body"]
        for _ in body.iter_chunks(MIB):
            pass
        direct_down = time.perf_counter() - start
    finally:
        moto.terminate()
        moto.wait()
    mb = size / 1e6
    print(f"{args.mib} MiB file")
    for what, service_s, direct_s in (
        ("upload  ", upload_s, direct_up),
        ("download", download_s, direct_down),
    ):
        print(
            f"{what} via HTTPS service: {mb / service_s:7.1f} MB/s"
            f"   direct boto3: {mb / direct_s:7.1f} MB/s"
        )
    print(f"worker peak RSS growth during the upload: {growth:.1f} MiB")


if __name__ == "__main__":
    main()
