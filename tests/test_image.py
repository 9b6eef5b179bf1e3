"""deploy/Dockerfile without a Docker engine: its instructions carried out in a plain shell,
in a directory that stands for the image's filesystem; then the image's CMD is started
with the settings a deployment mounts, and its HEALTHCHECK is run against it.

Both stages use the same paths (/venv, /app) and the final stage copies exactly those
from the build stage, so one directory serves for both stages here.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath

import pytest
import requests
from cryptography.fernet import Fernet
from django.db import connection

from tests.fixtures.server import make_production_assets, wait_for_https
from tests.helpers import BASE_DIR, free_port

DOCKERFILE = BASE_DIR / "deploy" / "Dockerfile"
IMAGE_DIRS = ("venv", "app")  # what the Dockerfile creates at the root of the image


def instructions(text: str) -> Iterator[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", text)  # continuation lines
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            yield keyword.upper(), rest.strip()


def ignored(path: PurePosixPath, patterns: list[str]) -> bool:
    """Docker's .dockerignore: a pattern matching a directory excludes all below it."""
    for depth in range(1, len(path.parts) + 1):
        prefix = PurePosixPath(*path.parts[:depth])
        for pattern in patterns:
            if pattern.startswith("**/"):
                if fnmatch(prefix.name, pattern.removeprefix("**/")):
                    return True
            elif fnmatch(str(prefix), pattern) and len(prefix.parts) == pattern.count("/") + 1:
                return True
    return False


def build_context() -> Iterator[Path]:
    patterns = [
        line.strip()
        for line in (BASE_DIR / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in BASE_DIR.rglob("*"):
        relative = PurePosixPath(path.relative_to(BASE_DIR).as_posix())
        if path.is_file() and not ignored(relative, patterns):
            yield path


@dataclass
class Image:
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str = "root"
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)

    def local(self, text: str) -> str:
        """The image's absolute paths, inside the directory standing for its root."""
        return re.sub(rf"(?<![\w.])/({'|'.join(IMAGE_DIRS)})\b", rf"{self.root}/\1", text)

    def path(self, image_path: str) -> Path:
        if not image_path.startswith("/"):
            image_path = f"{self.workdir.rstrip('/')}/{image_path}"
        return Path(self.local(image_path))

    def run(self, command: str) -> None:
        if command.startswith("useradd"):
            return  # needs a real root filesystem; USER is checked instead
        result = subprocess.run(
            ["/bin/sh", "-c", self.local(command)],
            cwd=self.path("."),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, f"RUN {command}\n{result.stdout}\n{result.stderr}"

    def copy(self, args: list[str]) -> None:
        options = [arg for arg in args if arg.startswith("--")]
        source, destination = [arg for arg in args if not arg.startswith("--")]
        if any(option.startswith("--from=") for option in options):
            assert self.path(source) == self.path(destination), "copies a path elsewhere"
            return
        if source == ".":
            for path in build_context():
                target = self.path(destination) / path.relative_to(BASE_DIR)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        else:
            shutil.copy2(BASE_DIR / source, self.path(destination))


def build(root: Path) -> Image:
    # The base image's interpreter: `python` on the PATH of a python:3.11 image.
    base_bin = root / "usr" / "local" / "bin"
    base_bin.mkdir(parents=True)
    (base_bin / "python").symlink_to(sys._base_executable)  # type: ignore[attr-defined]
    image = Image(root=root, env={"PATH": f"{base_bin}:/usr/bin:/bin"})
    for keyword, rest in instructions(DOCKERFILE.read_text()):
        if keyword == "ENV":
            for assignment in shlex.split(rest):
                name, _, value = assignment.partition("=")
                value = value.replace("$PATH", image.env["PATH"])
                image.env[name] = image.local(value)
        elif keyword == "WORKDIR":
            image.workdir = rest
            image.path(".").mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            image.copy(rest.split())
        elif keyword == "RUN":
            image.run(rest)
        elif keyword == "USER":
            image.user = rest
        elif keyword == "CMD":
            image.cmd = json.loads(rest)
        elif keyword == "HEALTHCHECK":
            image.healthcheck = json.loads(rest.split(" CMD ", 1)[1])
        else:
            assert keyword in ("FROM", "EXPOSE"), keyword
    return image


@pytest.mark.django_db(transaction=True)
def test_the_image_builds_in_a_shell_and_its_cmd_passes_its_healthcheck(tmp_path):
    image = build(tmp_path / "image")
    app = image.path(".")
    assert image.workdir == "/app" and image.user == "10001"
    assert (app / "var" / "static" / "admin" / "css" / "base.css").is_file()
    for absent in ("certs/tls", "tests", "bench", ".git", ".venv", ".mypy_cache", ".ruff_cache"):
        assert not (app / absent).exists(), absent
    assert not list(app.glob("jwt/*.pem")) and not (app / "var" / "db.sqlite3").exists()

    # What a deployment mounts and sets (the Helm chart, compose): secrets and the database.
    assets = make_production_assets(tmp_path / "secrets")
    port = free_port()
    database = connection.settings_dict
    env = {
        **image.env,
        "API_ENDPOINT": f"127.0.0.1:{port}",  # servers here listen on loopback only
        "DJANGO_SECRET_KEY": "a-long-random-secret-" + os.urandom(24).hex(),
        "MFA_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        # Not 127.0.0.1, where the HEALTHCHECK connects: it sends an allowed Host.
        "DJANGO_ALLOWED_HOSTS": "api.example.com",
        "POSTGRES_ENDPOINT": f"{database['HOST']}:{database['PORT']}",
        "POSTGRES_USERNAME": database["USER"],
        "POSTGRES_PASSWORD": database["PASSWORD"] or "",
        "DB_NAME": database["NAME"],
        "API_TLS_CERT": str(assets.api_cert),
        "API_TLS_KEY": str(assets.api_key),
        "TOKEN_ALGO_PRIVATE_KEY": str(assets.jwt_private),
        "TOKEN_ALGO_PUBLIC_KEY": str(assets.jwt_public),
        "SERVER_PKI_DIR_JWT": str(assets.jwt_private.parent),
    }
    assert env["DEBUG"] == "0"
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [image.local(arg) for arg in image.cmd],
            cwd=app,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_https(f"https://localhost:{port}", assets.api_ca, server, log)
        healthcheck = subprocess.run(
            [image.local(arg) for arg in image.healthcheck],
            cwd=app,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert healthcheck.returncode == 0, healthcheck.stderr + log.read_text()
        # The admin's static files, collected at build time, are served by the app.
        static = requests.get(
            f"https://localhost:{port}/static/admin/css/base.css",
            headers={"Host": "api.example.com"},
            verify=str(assets.api_ca),
            timeout=10,
        )
        assert static.status_code == 200 and "body" in static.text
    finally:
        server.terminate()
        server.wait(timeout=60)
