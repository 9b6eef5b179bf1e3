"""One bench run: the services it started, the server under test, accounts, and rows."""

import asyncio
import json
import os
import re
import ssl
import subprocess
import sys
from argparse import Namespace
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench import loadgen
from bench.client import Account, Client
from bench.report import Row
from bench.services import (
    HOST,
    SUITE_DIR,
    Assets,
    BenchError,
    Server,
    Stack,
    admin_dsn,
    client_tls,
    free_port,
    make_assets,
    manage,
    service_env,
    start_gunicorn,
    start_moto,
    start_tansu,
)

SUITE_PYTHON = Path(sys.executable)


@dataclass
class Bench:
    stack: Stack
    args: Namespace
    service_dir: Path
    service_python: Path
    assets: Assets
    tls: ssl.SSLContext
    s3_endpoint: str
    brokers: str
    database: str
    ours: Server
    rows: list[Row] = field(default_factory=list)
    # How each scenario measured, for RESULTS.md.
    methods: dict[str, list[str]] = field(default_factory=dict)
    # Figures one scenario measures and a later one builds on (max rate, hash ceiling).
    figures: dict[str, float] = field(default_factory=dict)
    _accounts: dict[str, list[Account]] = field(default_factory=dict)

    @classmethod
    def start(cls, stack: Stack, args: Namespace) -> "Bench":
        service_dir = Path(args.service_dir or SUITE_DIR).resolve()
        service_python = service_dir / ".venv" / "bin" / "python"
        if not service_python.exists():
            raise BenchError(f"{service_python} is missing: the service dir needs its own .venv")
        assets = make_assets(stack.work, SUITE_PYTHON)
        s3_endpoint = start_moto(stack, SUITE_PYTHON)
        brokers = start_tansu(stack)
        database = stack.database("service")
        port = free_port()
        env = service_env(
            name="ours",
            work=stack.work,
            assets=assets,
            database=database,
            port=port,
            s3_endpoint=s3_endpoint,
            brokers=brokers,
        )
        manage(service_python, service_dir, env, "migrate", "--no-input", "-v0")
        ours = start_gunicorn(
            stack,
            "ours",
            gunicorn_argv(service_python),
            env=env,
            cwd=service_dir,
            port=port,
            tls=True,
            database=database,
        )
        bench = cls(
            stack=stack,
            args=args,
            service_dir=service_dir,
            service_python=service_python,
            assets=assets,
            tls=client_tls(assets),
            s3_endpoint=s3_endpoint,
            brokers=brokers,
            database=database,
            ours=ours,
        )
        bench.client(ours).wait_ready("/health/ready")
        return bench

    def start_service(self, name: str, extra: dict[str, str]) -> Server:
        """Another gunicorn of the service under test on the same database (events off)."""
        port = free_port()
        env = service_env(
            name=name,
            work=self.stack.work,
            assets=self.assets,
            database=self.database,
            port=port,
            s3_endpoint=self.s3_endpoint,
            brokers=self.brokers,
            extra=extra,
        )
        server = start_gunicorn(
            self.stack,
            name,
            gunicorn_argv(self.service_python),
            env=env,
            cwd=self.service_dir,
            port=port,
            tls=True,
            database=self.database,
        )
        self.client(server).wait_ready("/health/ready")
        return server

    def start_bare(self) -> Server:
        """The no-middleware, no-database view under this checkout's gunicorn_conf.py + TLS."""
        port = free_port()
        env = service_env(
            name="bare",
            work=self.stack.work,
            assets=self.assets,
            database="unused",
            port=port,
            s3_endpoint=self.s3_endpoint,
            brokers=self.brokers,
            extra={"DJANGO_SETTINGS_MODULE": "bench.bare_settings", "KAFKA_ENABLED": "0"},
        )
        server = start_gunicorn(
            self.stack,
            "bare",
            gunicorn_argv(SUITE_PYTHON),
            env=env,
            cwd=SUITE_DIR,
            port=port,
            tls=True,
            database=None,
        )
        self.client(server).wait_ready("/hello")
        return server

    def start_djoser(self, users: int) -> tuple[Server, list[Account]]:
        """The stock djoser + simplejwt app, its own database, stock gunicorn, plain HTTP."""
        database = self.stack.database("djoser")
        port = free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.djoser_app.settings",
            "DB_NAME": database,
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        python = str(SUITE_PYTHON)
        migrate = [python, "-m", "django", "migrate", "--no-input", "-v0"]
        done = subprocess.run(migrate, cwd=SUITE_DIR, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise BenchError(f"the djoser app's migrate failed:\n{done.stderr[-3000:]}")
        seeded = subprocess.run(
            [python, "-m", "bench.djoser_app.seed", str(users)],
            cwd=SUITE_DIR,
            env=env,
            capture_output=True,
            text=True,
        )
        if seeded.returncode != 0:
            raise BenchError(f"seeding the djoser app failed:\n{seeded.stderr[-3000:]}")
        accounts = [
            Account(f"bench{i}@example.com", int(u["id"]), str(u["token"]))
            for i, u in enumerate(json.loads(seeded.stdout))
        ]
        argv = [python, "-m", "gunicorn", "-w", "2", "-b", f"{HOST}:{port}"]
        server = start_gunicorn(
            self.stack,
            "djoser",
            [*argv, "bench.djoser_app.wsgi:application"],
            env=env,
            cwd=SUITE_DIR,
            port=port,
            tls=False,
            database=database,
        )
        self.client(server).expect(200, "GET", "/auth/users/me/", token=accounts[0].token)
        return server, accounts

    def client(self, server: Server) -> Client:
        return Client(server, self.tls if server.tls else None)

    def accounts(self, purpose: str, count: int) -> list[Account]:
        """`count` accounts of the service under test for one purpose, registered once."""
        have = self._accounts.setdefault(purpose, [])
        client = self.client(self.ours)
        while len(have) < count:
            have.append(client.register(f"{purpose}{len(have)}@bench.example.com"))
        client.close()
        return have[:count]

    def db(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(admin_dsn(self.database), autocommit=True)

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        """The one value a query of the service's database returns."""
        with self.db() as conn:
            row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
        if row is None:
            raise BenchError(f"no row: {sql}")
        return row[0]

    def open_loop(
        self, server: Server, loads: list[loadgen.Load], seconds: float
    ) -> list[loadgen.Result]:
        connect = loadgen.connector(HOST, server.port, self.tls if server.tls else None)

        async def work() -> list[loadgen.Result]:
            runs = (loadgen.open_loop(load, seconds, connect) for load in loads)
            return list(await asyncio.gather(*runs))

        return loadgen.run(work)

    def closed_loop(
        self, server: Server, kinds: list[loadgen.Kind], connections: int, seconds: float
    ) -> loadgen.Result:
        connect = loadgen.connector(HOST, server.port, self.tls if server.tls else None)

        async def work() -> list[loadgen.Result]:
            return [await loadgen.closed_loop(kinds, connections, seconds, connect)]

        return loadgen.run(work)[0]

    def figure(self, name: str, measure: Callable[[], float]) -> float:
        """A figure an earlier scenario measured, or measured now once."""
        if name not in self.figures:
            self.figures[name] = measure()
        return self.figures[name]

    def row(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def method(self, scenario: str, text: str) -> None:
        self.methods.setdefault(scenario, []).append(text)


def gunicorn_argv(python: Path) -> list[str]:
    return [str(python), "-m", "gunicorn", "-c", "restapi/gunicorn_conf.py", "restapi.wsgi"]


def host_header(server: Server) -> str:
    return f"{HOST}:{server.port}"


def proc_status(pid: int, field_name: str) -> int:
    """A /proc/PID/status figure in KiB (VmRSS, VmHWM)."""
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{field_name}:\s+(\d+)", text, re.MULTILINE)
    return int(found.group(1)) if found else 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def generator_note(results: list[loadgen.Result]) -> str:
    """What the generator itself did: the worst share of a core it used and its p99 lag."""
    busy = max(result.generator_busy() for result in results)
    lag = max(loadgen.percentile(result.lag, 99) for result in results) * 1000
    note = f"generator: ≤{busy:.0%} of a core, lag p99 ≤{lag:.1f} ms"
    if busy > 0.8:
        note += " (GENERATOR-LIMITED)"
    return note


def failures(result: loadgen.Result) -> list[str]:
    """What went wrong in a run: answers of 400 and more, and requests with no answer."""
    found = [
        f"{n}x {kind} {status}"
        for (kind, status), n in sorted(result.statuses.items())
        if status >= 400
    ]
    return found + [f"{n}x {what}" for what, n in sorted(result.errors.items())]


def fail(row: Row, problems: list[str]) -> None:
    """Marks the row FAIL with what went wrong, keeping its figures."""
    if problems:
        row.failed = "; ".join(sorted(set(problems)))[:300]
