"""The README's curl walk-through, taken from README.md, run as written against a live server."""

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

from tests.fixtures.server import Server
from tests.helpers import BASE_DIR

pytestmark = pytest.mark.django_db(transaction=True)


def walk_through() -> str:
    """The bash blocks of the README's walk-through section, in order, as one script."""
    readme = (BASE_DIR / "README.md").read_text()
    section = readme.split("\n## Walk-through with curl\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```bash\n(.*?)^```$", section, flags=re.DOTALL | re.MULTILINE)
    assert len(blocks) == 2, "the walk-through and its Kafka step"
    return "\n".join(blocks)


@pytest.fixture(scope="module")
def kafka_server(new_server: Callable[..., AbstractContextManager[Server]]) -> Iterator[Server]:
    """Kafka on, with the walk-through's `testing` topic allowed."""
    with new_server(KAFKA_TOPICS="testing") as server:
        yield server


def test_the_readme_walk_through_runs_top_to_bottom(kafka_server, tmp_path):
    script = walk_through()
    # It runs `.venv/bin/python manage.py` from the checkout; its files go to a scratch dir.
    for name in (".venv", "manage.py"):
        (tmp_path / name).symlink_to(BASE_DIR / name)
    requests_before = len(kafka_server.log.read_text().splitlines())
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env={**kafka_server.env, "API": kafka_server.url, "CA": str(kafka_server.ca)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    steps = len(re.findall(r'"\$\{C\[@\]\}"|^curl |\$\(curl ', script, flags=re.MULTILINE))
    lines = kafka_server.log.read_text().splitlines()[requests_before:]
    answered = [line for line in lines if '"status"' in line]
    print(f"\nREADME walk-through: {steps} HTTP steps, {len(answered)} access lines")
    assert steps >= 25
    assert len(answered) >= steps
    assert not any(name.endswith(".csv") for name in os.listdir(tmp_path))
