"""User files through the real gunicorn over TLS, stored in the moto S3 server."""

import hashlib
from pathlib import Path

import pytest

from tests.fixtures.storage import S3_BUCKET, s3_client

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024


class GeneratedBody:
    """`size` bytes made on the fly: the client holds one chunk at a time, never the file."""

    def __init__(self, size: int) -> None:
        self.size, self.sent, self.digest = size, 0, hashlib.sha256()
        self.block = hashlib.sha256(b"seed").digest() * (MIB // 32)

    def __len__(self) -> int:
        return self.size

    def read(self, amount: int = -1) -> bytes:
        amount = min(MIB if amount is None or amount < 0 else amount, self.size - self.sent)
        data = (self.block * (amount // len(self.block) + 1))[:amount]
        self.sent += len(data)
        self.digest.update(data)
        return data


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def test_large_upload_and_download_stream_with_flat_memory(server):
    auth = {"Authorization": f"Bearer {server.register('big@example.com')}"}
    http = server.session()
    # Warm both workers (including their S3 client), then take their size before the upload.
    for _ in range(4):
        warm = http.post(f"{server.url}/user/data", data=b"w", headers={**auth, "filename": "w"})
        assert warm.status_code == 201
    before = {pid: memory_kib(pid, "VmRSS") for pid in server.worker_pids()}
    body = GeneratedBody(200 * MIB)
    response = http.post(
        f"{server.url}/user/data",
        data=body,
        headers={**auth, "filename": "big.bin", "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["size_in_bytes"] == 200 * MIB
    assert record["sha256"] == body.digest.hexdigest()
    growth_mib = max(memory_kib(pid, "VmHWM") - rss for pid, rss in before.items()) / 1024
    print(f"\nworker peak RSS growth during a 200 MiB upload: {growth_mib:.1f} MiB")
    assert growth_mib < 64

    download = http.get(f"{server.url}/user/data/{record['data_id']}", headers=auth, stream=True)
    assert download.status_code == 200
    assert download.headers["Content-Length"] == str(200 * MIB)
    digest = hashlib.sha256()
    for chunk in download.iter_content(MIB):
        digest.update(chunk)
    assert digest.hexdigest() == record["sha256"]


@pytest.mark.parametrize("spelling", ["data-type", "data_type"])
def test_metadata_headers_work_with_dashes_and_underscores(server, spelling):
    auth = {"Authorization": f"Bearer {server.register(f'{spelling}@example.com')}"}
    http = server.session()
    user_id_header = spelling.replace("data", "user").replace("type", "id")
    me = http.get(f"{server.url}/user/sessions", headers=auth)
    assert me.status_code == 200
    response = http.post(
        f"{server.url}/user/data",
        data=b"a,b\n1,2\n",
        headers={**auth, "filename": "t.csv", spelling: "csv", "comments": "via " + spelling},
    )
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["data_type"] == "csv"
    key = record["sloc"].removeprefix(f"s3://{S3_BUCKET}/")
    stored = s3_client(server.env["S3_ENDPOINT_URL"]).get_object(Bucket=S3_BUCKET, Key=key)
    assert stored["Body"].read() == b"a,b\n1,2\n"
    other = http.post(
        f"{server.url}/user/data",
        data=b"x",
        headers={**auth, "filename": "t.csv", user_id_header: "987654"},
    )
    assert other.status_code == 403
