"""The second factor's cost: p50 of a login completed with a TOTP code (POST /login, then
POST /login/mfa), beside a password-only login, one request at a time on one connection,
in alternating rounds. The second step hashes nothing: its cost is one challenge lookup,
one HMAC comparison per step of drift and a session."""

import statistics
import time
from collections.abc import Callable

import pyotp

from bench.client import PASSWORD, Client
from bench.report import Row, ratio_at_most
from bench.run import Bench

# A code is accepted once per account and step: each account logs in once per round.
ACCOUNTS = 40


def enrolled(bench: Bench, client: Client, count: int) -> list[tuple[str, str]]:
    """Accounts with an active TOTP: (email, secret)."""
    accounts = []
    for account in bench.accounts("secondfactor", count):
        body = client.expect(201, "POST", "/user/mfa/totp", token=account.token)
        code = pyotp.TOTP(body["secret"]).at(time.time() - 30)
        client.expect(200, "POST", "/user/mfa/totp/confirm", {"code": code}, token=account.token)
        accounts.append((account.email, body["secret"]))
    return accounts


def timed_ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def two_steps(client: Client, email: str, secret: str) -> None:
    first = client.expect(200, "POST", "/login", {"email": email, "password": PASSWORD})
    # A fresh step for each round: the code of the step the last round used is refused.
    body = {"mfa_token": first["mfa_token"], "code": pyotp.TOTP(secret).now()}
    client.expect(201, "POST", "/login/mfa", body)


def scenario(bench: Bench) -> None:
    client = bench.client(bench.ours)
    plain = bench.accounts("plainlogin", ACCOUNTS)
    with_totp = enrolled(bench, client, ACCOUNTS)
    row = bench.row(
        Row(
            "mfa",
            "login p50: password + TOTP code (two requests)",
            "ms",
            "password only",
            ratio_at_most(1.5),
        )
    )
    added: list[float] = []
    for round_number in range(bench.args.rounds):
        # Each round in a 30 s step of its own, so every account has an unused code.
        time.sleep(30 - time.time() % 30 + 0.2)
        ours: list[float] = []
        ref: list[float] = []
        order = (0, 1) if round_number % 2 == 0 else (1, 0)
        for kind in order:
            if kind == 0:
                for email, secret in with_totp:
                    ours.append(timed_ms(lambda e=email, s=secret: two_steps(client, e, s)))
            else:
                for account in plain:
                    login = {"email": account.email, "password": PASSWORD}
                    ref.append(timed_ms(lambda b=login: client.expect(201, "POST", "/login", b)))
        row.add(statistics.median(ours), statistics.median(ref))
        added.append(statistics.median(ours) - statistics.median(ref))
    client.close()
    bench.method(
        "mfa",
        f"{ACCOUNTS} accounts of each kind, one request at a time on one TLS connection; the "
        f"second step adds {statistics.median(added):.1f} ms at p50 (median over rounds).",
    )
