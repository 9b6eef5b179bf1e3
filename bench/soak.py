"""Soak: a mixed workload (reads, logins, updates, small uploads) in an open loop at 70 %
of that mix's max rate; 5xx count, and worker RSS, open files and database connections
at the start and the end."""

import asyncio
import json

from bench import loadgen
from bench.client import PASSWORD, Account
from bench.report import Row, Target, ratio_within
from bench.run import Bench, generator_note, host_header, open_fds, proc_status
from bench.services import HOST
from bench.wrk import Spec, run_wrk

SHARE = 0.7
CONNECTIONS = 64
ACCOUNTS = 16
# Requests per 100: mostly reads, as an API like this one sees them.
MIX = {"read": 85, "update": 8, "upload": 5, "login": 2}
UPLOAD = b"id,value\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(400))


def kinds(bench: Bench, files: list[tuple[Account, int]]) -> list[loadgen.Kind]:
    host = host_header(bench.ours)
    accounts = [account for account, _ in files]

    def auth(account: Account) -> dict[str, str]:
        return {"Authorization": f"Bearer {account.token}"}

    def read(i: int) -> bytes:
        account = accounts[i % len(accounts)]
        return loadgen.request("GET", f"/user/{account.user_id}", host=host, headers=auth(account))

    def update(i: int) -> bytes:
        account, data_id = files[i % len(files)]
        body = json.dumps({"data_id": data_id, "comments": f"soak {i}"}).encode()
        headers = {**auth(account), "Content-Type": "application/json"}
        return loadgen.request("PUT", "/user/data", host=host, headers=headers, body=body)

    def upload(i: int) -> bytes:
        account = accounts[i % len(accounts)]
        headers = {**auth(account), "Content-Type": "text/csv", "filename": f"soak{i}.csv"}
        return loadgen.request("POST", "/user/data", host=host, headers=headers, body=UPLOAD)

    def login(i: int) -> bytes:
        account = accounts[i % len(accounts)]
        body = json.dumps({"email": account.email, "password": PASSWORD}).encode()
        headers = {"Content-Type": "application/json"}
        return loadgen.request("POST", "/login", host=host, headers=headers, body=body)

    makers = {"read": read, "update": update, "upload": upload, "login": login}
    return [loadgen.Kind(name, makers[name], weight) for name, weight in MIX.items()]


def sample(bench: Bench) -> dict[str, float]:
    workers = bench.ours.worker_pids()
    with bench.db() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [bench.database],
        ).fetchone()
    return {
        "rss": sum(proc_status(pid, "VmRSS") for pid in workers) / 1024,
        "fds": float(sum(open_fds(pid) for pid in [bench.ours.process.pid, *workers])),
        "connections": float(row[0]),  # type: ignore[index]
        "workers": float(len(workers)),
    }


def wrk_specs(files: list[tuple[Account, int]]) -> list[Spec]:
    """The same mix for wrk, one cycle of it over the accounts."""
    specs = []
    for j, kind in enumerate(loadgen.mix([loadgen.Kind(k, bytes, n) for k, n in MIX.items()])):
        account, data_id = files[j % len(files)]
        auth = {"Authorization": f"Bearer {account.token}"}
        json_type = {"Content-Type": "application/json"}
        specs.append(
            {
                "read": Spec("GET", f"/user/{account.user_id}", auth),
                "update": Spec(
                    "PUT",
                    "/user/data",
                    auth | json_type,
                    f'{{"data_id": {data_id}, "comments": "soak {{n}}"}}',
                ),
                "upload": Spec(
                    "POST",
                    "/user/data",
                    auth | {"Content-Type": "text/csv", "filename": "soak.csv"},
                    UPLOAD.decode(),
                ),
                "login": Spec(
                    "POST",
                    "/login",
                    json_type,
                    json.dumps({"email": account.email, "password": PASSWORD}),
                ),
            }[kind.name]
        )
    return specs


def scenario(bench: Bench) -> None:
    client = bench.client(bench.ours)
    files = []
    for account in bench.accounts("soak", ACCOUNTS):
        answer = client.expect(
            201,
            "POST",
            "/user/data",
            UPLOAD,
            token=account.token,
            headers={"filename": "soak.csv", "Content-Type": "text/csv"},
        )
        files.append((account, int(answer["data_id"])))
    client.close()
    most = run_wrk(
        bench.ours,
        wrk_specs(files),
        seconds=bench.args.seconds,
        connections=32,
        work=bench.stack.work,
    )
    rate = SHARE * most.rate
    load = loadgen.Load(rate, kinds(bench, files), CONNECTIONS)
    # Warm up first: pools, caches and lazily made clients settle before "start".
    bench.open_loop(bench.ours, [load], bench.args.seconds)
    seconds = bench.args.soak_seconds
    pids_before = bench.ours.worker_pids()
    samples: dict[str, dict[str, float]] = {}
    connect = loadgen.connector(HOST, bench.ours.port, bench.tls)

    async def soak() -> list[loadgen.Result]:
        async def sampler() -> None:
            # Both while the load runs, so both count the generator's connections.
            await asyncio.sleep(2)
            samples["start"] = await asyncio.to_thread(sample, bench)
            await asyncio.sleep(seconds - 3)
            samples["end"] = await asyncio.to_thread(sample, bench)

        sampling = asyncio.ensure_future(sampler())
        result = await loadgen.open_loop(load, seconds, connect)
        await sampling
        return [result]

    (result,) = loadgen.run(soak)
    start, end = samples["start"], samples["end"]
    restarted = pids_before != bench.ours.worker_pids()
    errors = bench.row(
        Row(
            "soak",
            f"5xx in {seconds:g} s at {rate:.0f} req/s",
            "",
            target=Target("0", lambda ours, ratio: ours == 0),
        )
    )
    errors.add(float(result.server_errors()))
    statuses = ", ".join(
        f"{kind} {status}: {n}" for (kind, status), n in sorted(result.statuses.items())
    )
    p99 = ", ".join(
        f"{kind} {result.percentile(kind, 99) * 1000:.0f} ms"
        for kind in MIX
        if kind in result.latencies
    )
    lost = ", ".join(f"{what}: {n}" for what, n in result.errors.items())
    errors.note = (
        f"mix max rate (wrk) {most.rate:.0f} req/s with {most.non_2xx} non-2xx;"
        f" statuses {statuses}; p99 {p99}"
        + (f"; connection errors {lost}" if lost else "")
        + ("; a worker was replaced during the soak" if restarted else "")
        + "; "
        + generator_note([result])
    )
    for name, measure, unit in (
        ("rss", "worker RSS, end vs start", "MiB"),
        ("fds", "open fds (master + workers), end vs start", ""),
        ("connections", "database connections, end vs start", ""),
    ):
        bench.row(Row("soak", measure, unit, "start", ratio_within(0.1))).add(
            end[name], start[name]
        )
    bench.method(
        "soak",
        f"the mix's max rate with wrk -t2 -c32 -d{bench.args.seconds:g}s, then bench/loadgen.py"
        f" open loop at {SHARE:.0%} of it over {CONNECTIONS} connections for {seconds:g} s"
        f" after a {bench.args.seconds:g} s warm-up; per 100 requests"
        f" {', '.join(f'{n} {kind}' for kind, n in MIX.items())} ({len(UPLOAD):,} byte CSV"
        f" uploads, comment updates, logins) over {ACCOUNTS} accounts; start and end sampled"
        " 2 s after the start and 1 s before the end: RSS summed over the workers, fds of the"
        " master and workers (/proc), connections to the service's database"
        " (pg_stat_activity)",
    )
