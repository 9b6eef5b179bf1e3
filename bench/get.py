"""Authenticated GET /user/{id}: closed-loop max rate, then open-loop latency at 50, 70 and
90 % of it, beside the no-middleware view and the stock djoser app (each at fractions
of its own max rate)."""

from dataclasses import dataclass

from bench import loadgen
from bench.report import Row, ours_at_most, ratio_at_least
from bench.run import Bench, fail, failures, generator_note, host_header
from bench.services import Server
from bench.wrk import Spec, run_wrk

ACCOUNTS = 32
WRK_CONNECTIONS = 32
OPEN_LOOP_CONNECTIONS = 64
FRACTIONS = (0.5, 0.7, 0.9)


@dataclass
class System:
    name: str
    server: Server
    specs: list[Spec]


def ours_specs(bench: Bench) -> list[Spec]:
    return [
        Spec("GET", f"/user/{a.user_id}", {"Authorization": f"Bearer {a.token}"})
        for a in bench.accounts("get", ACCOUNTS)
    ]


def kinds(system: System) -> list[loadgen.Kind]:
    """The wrk specs as one cycling kind for the open-loop generator."""
    host = host_header(system.server)
    rendered = [
        loadgen.request(s.method, s.path, host=host, headers=s.headers) for s in system.specs
    ]
    return [loadgen.Kind(system.name, lambda i: rendered[i % len(rendered)])]


def max_rate(bench: Bench, system: System, problems: list[str]) -> float:
    outcome = run_wrk(
        system.server,
        system.specs,
        seconds=bench.args.seconds,
        connections=WRK_CONNECTIONS,
        work=bench.stack.work,
    )
    if outcome.non_2xx or outcome.socket_errors:
        problems.append(
            f"wrk on {system.name}: {outcome.non_2xx} non-2xx,"
            f" {outcome.socket_errors} socket errors"
        )
    return outcome.rate


def latency(bench: Bench, system: System, rate: float) -> loadgen.Result:
    load = loadgen.Load(rate, kinds(system), OPEN_LOOP_CONNECTIONS)
    return bench.open_loop(system.server, [load], bench.args.seconds)[0]


def percentiles(result: loadgen.Result) -> tuple[float, ...]:
    names = list(result.latencies) or ["none"]
    return tuple(result.percentile(names[0], p) * 1000 for p in (50, 99, 99.9))


def scenario(bench: Bench) -> None:
    ours = System("ours", bench.ours, ours_specs(bench))
    djoser_server, djoser_accounts = bench.start_djoser(ACCOUNTS)
    djoser = System(
        "djoser",
        djoser_server,
        [
            Spec("GET", "/auth/users/me/", {"Authorization": f"Bearer {a.token}"})
            for a in djoser_accounts
        ],
    )
    bare = System("bare", bench.start_bare(), [Spec("GET", "/hello", {})])
    refs = (djoser, bare)
    rate_rows = {
        djoser.name: bench.row(Row("get", "max rate, wrk", "req/s", "djoser", ratio_at_least(1.5))),
        bare.name: bench.row(
            Row("get", "max rate, wrk", "req/s", "no middleware", ratio_at_least(0.5))
        ),
    }
    latency_rows: dict[tuple[float, str], Row] = {}
    for fraction in FRACTIONS:
        for ref in refs:
            target = None
            if fraction == 0.7 and ref is djoser:
                target = ours_at_most(10, "ms p99")
            latency_rows[(fraction, ref.name)] = bench.row(
                Row(
                    "get",
                    f"p50 / p99 / p99.9 at {fraction:.0%} of max, open loop",
                    "ms",
                    "djoser" if ref is djoser else "no middleware",
                    target,
                    key=1,
                )
            )
    runs: dict[tuple[float, str], list[loadgen.Result]] = {}
    problems: dict[str, list[str]] = {ref.name: [] for ref in refs}
    try:
        for _ in range(bench.args.rounds):
            rates = {}
            for system in (ours, *refs):
                found: list[str] = []
                rates[system.name] = max_rate(bench, system, found)
                for ref in refs if system is ours else [system]:
                    problems[ref.name] += found
            for ref in refs:
                rate_rows[ref.name].add(rates["ours"], rates[ref.name])
            for fraction in FRACTIONS:
                result = latency(bench, ours, fraction * rates["ours"])
                for ref in refs:
                    ref_result = latency(bench, ref, fraction * rates[ref.name])
                    latency_rows[(fraction, ref.name)].add(
                        percentiles(result), percentiles(ref_result)
                    )
                    runs.setdefault((fraction, ref.name), []).extend([result, ref_result])
    finally:
        bench.stack.stop(djoser_server.process)
        bench.stack.stop(bare.server.process)
    for ref in refs:
        fail(rate_rows[ref.name], problems[ref.name])
    for key, results in runs.items():
        latency_rows[key].note = generator_note(results)
        fail(latency_rows[key], [p for result in results for p in failures(result)])
    bench.figures["get_max_rate"] = rate_rows[djoser.name].ours_median()[0]  # type: ignore[index]
    bench.method(
        "get",
        f"max rate: wrk -t2 -c{WRK_CONNECTIONS} -d{bench.args.seconds:g}s over keep-alive "
        f"(HTTPS for ours and the no-middleware view, plain HTTP for djoser, whose stock "
        f"sync workers close each connection), cycling through {ACCOUNTS} accounts' tokens",
    )
    bench.method(
        "get",
        f"latency: bench/loadgen.py open loop, {OPEN_LOOP_CONNECTIONS} connections, "
        f"{bench.args.seconds:g} s at each fraction of each server's own max rate of the "
        "same round, latency from each request's due time",
    )
