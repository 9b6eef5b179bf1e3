"""Logins: logins/s beside the argon2id ceiling; and GET latency while logins run (mixed)."""

import json
import multiprocessing
import os
import re
import statistics
import time
from dataclasses import dataclass

from argon2 import PasswordHasher, Type

from bench import loadgen
from bench.client import PASSWORD, Account
from bench.get import OPEN_LOOP_CONNECTIONS, System, kinds, ours_specs
from bench.report import Row, ratio_at_least, ratio_at_most
from bench.run import Bench, fail, failures, generator_note, host_header
from bench.wrk import Spec, run_wrk

# Each login attempt counts as a failure until its password check passes, and an account
# with more than 5 such at once is throttled (429): many more accounts than connections
# keep that from happening.
ACCOUNTS = 64
CONNECTIONS = 16
# Mixed: logins at half the hashing ceiling, GETs at a quarter of their max rate (about
# half of what the cores have left beside the logins).
LOGIN_SHARE = 0.5
GET_SHARE = 0.25


@dataclass(frozen=True)
class Argon2:
    memory_kib: int
    time_cost: int
    parallelism: int
    kind: Type

    @classmethod
    def of_hash(cls, encoded: str) -> "Argon2":
        """The parameters of a stored hash ("argon2$argon2id$v=19$m=19456,t=2,p=1$…"): the
        ones the service under test uses, whatever its version's defaults."""
        found = re.search(r"\$argon2(id|i|d)\$v=\d+\$m=(\d+),t=(\d+),p=(\d+)\$", encoded)
        if found is None:
            raise ValueError(f"not an argon2 hash: {encoded[:30]}…")
        kind = {"id": Type.ID, "i": Type.I, "d": Type.D}[found.group(1)]
        return cls(int(found.group(2)), int(found.group(3)), int(found.group(4)), kind)


def hash_loop(params: Argon2, seconds: float, counter: "multiprocessing.Value") -> None:  # type: ignore[valid-type]
    hasher = PasswordHasher(
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        type=params.kind,
    )
    stop, done = time.monotonic() + seconds, 0
    while time.monotonic() < stop:
        hasher.hash(PASSWORD)
        done += 1
    with counter.get_lock():  # type: ignore[attr-defined]
        counter.value += done  # type: ignore[attr-defined]


def argon2_ceiling(params: Argon2, seconds: float) -> float:
    """Hashes/s of one process per core hashing in a loop: what logins could reach if
    hashing were all they did."""
    context = multiprocessing.get_context("fork")
    counter = context.Value("i", 0)
    workers = [
        context.Process(target=hash_loop, args=(params, seconds, counter), daemon=True)
        for _ in range(os.cpu_count() or 1)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return float(counter.value) / seconds


def service_argon2(bench: Bench, account: Account) -> Argon2:
    with bench.db() as conn:
        row = conn.execute("SELECT password FROM users WHERE email = %s", [account.email])
        return Argon2.of_hash(str(row.fetchone()[0]))  # type: ignore[index]


def login_specs(accounts: list[Account]) -> list[Spec]:
    return [
        Spec(
            "POST",
            "/login",
            {"Content-Type": "application/json"},
            json.dumps({"email": a.email, "password": PASSWORD}),
        )
        for a in accounts
    ]


def login_kind(bench: Bench, accounts: list[Account]) -> loadgen.Kind:
    host = host_header(bench.ours)
    rendered = [
        loadgen.request(
            "POST",
            "/login",
            host=host,
            headers={"Content-Type": "application/json"},
            body=json.dumps({"email": a.email, "password": PASSWORD}).encode(),
        )
        for a in accounts
    ]
    return loadgen.Kind("login", lambda i: rendered[i % len(rendered)])


def ceiling(bench: Bench) -> float:
    def measure() -> float:
        params = service_argon2(bench, bench.accounts("login", ACCOUNTS)[0])
        return argon2_ceiling(params, bench.args.seconds)

    return bench.figure("argon2_ceiling", measure)


def scenario(bench: Bench) -> None:
    accounts = bench.accounts("login", ACCOUNTS)
    params = service_argon2(bench, accounts[0])
    row = bench.row(
        Row(
            "login",
            f"logins/s (201s only), wrk {CONNECTIONS} conns",
            "/s",
            "argon2 ceiling",
            ratio_at_least(0.9),
        )
    )
    errors = 0
    for _ in range(bench.args.rounds):
        outcome = run_wrk(
            bench.ours,
            login_specs(accounts),
            seconds=bench.args.seconds,
            connections=CONNECTIONS,
            work=bench.stack.work,
        )
        errors += outcome.non_2xx + outcome.socket_errors
        row.add(outcome.ok_rate, argon2_ceiling(params, bench.args.seconds))
    bench.figures["argon2_ceiling"] = row.ref_median()[0]  # type: ignore[index]
    row.note = f"{errors} non-2xx or socket errors" if errors else ""
    if errors:
        row.failed = f"{errors} failed logins"
    bench.method(
        "login",
        f"wrk -t2 -c{CONNECTIONS} -d{bench.args.seconds:g}s POST /login cycling through "
        f"{ACCOUNTS} accounts; ceiling: {os.cpu_count()} processes hashing with the service's "
        f"parameters (m={params.memory_kib} KiB, t={params.time_cost}, p={params.parallelism},"
        f" read from a stored hash) for {bench.args.seconds:g} s",
    )


def mixed(bench: Bench) -> None:
    get_rate = GET_SHARE * bench.figure("get_max_rate", lambda: quick_max_rate(bench))
    login_rate = LOGIN_SHARE * ceiling(bench)
    system = System("get", bench.ours, ours_specs(bench))
    get_load = loadgen.Load(get_rate, kinds(system), OPEN_LOOP_CONNECTIONS)
    login_load = loadgen.Load(
        login_rate, [login_kind(bench, bench.accounts("login", ACCOUNTS))], CONNECTIONS
    )
    row = bench.row(
        Row(
            "mixed",
            f"GET p99 at {get_rate:.0f}/s with logins at {login_rate:.0f}/s",
            "ms",
            "no logins",
            ratio_at_most(3),
        )
    )
    runs: list[loadgen.Result] = []
    problems: list[str] = []
    for _ in range(bench.args.rounds):
        loaded, logins = bench.open_loop(bench.ours, [get_load, login_load], bench.args.seconds)
        (unloaded,) = bench.open_loop(bench.ours, [get_load], bench.args.seconds)
        runs += [loaded, logins, unloaded]
        row.add(loaded.percentile("get", 99) * 1000, unloaded.percentile("get", 99) * 1000)
        problems += failures(loaded) + failures(logins) + failures(unloaded)
    login_runs = runs[1::3]
    p99 = statistics.median(result.percentile("login", 99) * 1000 for result in login_runs)
    sent = statistics.median(result.rate("login") for result in login_runs)
    row.note = f"logins answered {sent:.1f}/s, their p99 {p99:.0f} ms; " + generator_note(runs)
    fail(row, problems)
    bench.method(
        "mixed",
        f"bench/loadgen.py open loop for {bench.args.seconds:g} s: GET /user/{{id}} at "
        f"{GET_SHARE:.0%} of the max rate over {OPEN_LOOP_CONNECTIONS} connections, with and "
        f"without POST /login at {LOGIN_SHARE:.0%} of the argon2 ceiling over "
        f"{CONNECTIONS} connections",
    )


def quick_max_rate(bench: Bench) -> float:
    """The GET max rate for a run that skipped the get scenario: one wrk measurement."""
    outcome = run_wrk(
        bench.ours,
        ours_specs(bench),
        seconds=bench.args.seconds,
        connections=32,
        work=bench.stack.work,
    )
    return outcome.rate
