"""Authenticated GET /user/{id}: closed-loop max rate, then open-loop latency at 50, 70 and
90 % of it, beside the no-middleware view and the stock djoser app (each at fractions
of its own max rate)."""

from dataclasses import dataclass

from bench import loadgen
from bench.report import Row, ours_at_most, ratio_at_least
from bench.run import Bench, generator_note, host_header
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


def max_rate(bench: Bench, system: System) -> float:
    outcome = run_wrk(
        system.server,
        system.specs,
        seconds=bench.args.seconds,
        connections=WRK_CONNECTIONS,
        work=bench.stack.work,
    )
    if outcome.non_2xx or outcome.socket_errors:
        raise RuntimeError(
            f"{system.name}: {outcome.non_2xx} non-2xx, {outcome.socket_errors} socket errors"
        )
    return outcome.rate


def latency(bench: Bench, system: System, rate: float) -> tuple[tuple[float, ...], loadgen.Result]:
    load = loadgen.Load(rate, kinds(system), OPEN_LOOP_CONNECTIONS)
    result = bench.open_loop(system.server, [load], bench.args.seconds)[0]
    bad = result.count() - result.statuses[(system.name, 200)]
    if bad or result.errors:
        raise RuntimeError(f"{system.name} at {rate:.0f}/s: {bad} non-200, {dict(result.errors)}")
    figure = tuple(result.percentile(system.name, p) * 1000 for p in (50, 99, 99.9))
    return figure, result


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
    try:
        for _ in range(bench.args.rounds):
            rates = {system.name: max_rate(bench, system) for system in (ours, *refs)}
            for ref in refs:
                rate_rows[ref.name].add(rates["ours"], rates[ref.name])
            for fraction in FRACTIONS:
                figure, result = latency(bench, ours, fraction * rates["ours"])
                for ref in refs:
                    ref_figure, ref_result = latency(bench, ref, fraction * rates[ref.name])
                    latency_rows[(fraction, ref.name)].add(figure, ref_figure)
                    runs.setdefault((fraction, ref.name), []).extend([result, ref_result])
    finally:
        bench.stack.stop(djoser_server.process)
        bench.stack.stop(bare.server.process)
        for key, results in runs.items():
            latency_rows[key].note = generator_note(results)
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
