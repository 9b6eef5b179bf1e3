#!/usr/bin/env python
"""Login throughput through the HTTPS server beside the pure argon2 ceiling, same run.

    .venv/bin/python bench/login.py [--seconds 15] [--clients 16]

Needs PostgreSQL (POSTGRES_ENDPOINT, default 127.0.0.1:5432, user postgres) and the dev
assets (`make assets`). Prints logins/s, hashes/s of two processes hashing in a loop with
the same parameters, and how many hashes 50 parallel wrong passwords got evaluated.
"""

import argparse
import multiprocessing
import threading
import time

from argon2 import PasswordHasher, Type
from common import PASSWORD, URL, register, running_server, session


def hash_loop(seconds: float, counter: "multiprocessing.Value") -> None:  # type: ignore[type-arg]
    hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)
    stop, done = time.monotonic() + seconds, 0
    while time.monotonic() < stop:
        hasher.hash(PASSWORD)
        done += 1
    with counter.get_lock():
        counter.value += done


def argon2_ceiling(seconds: float) -> float:
    counter = multiprocessing.Value("i", 0)
    workers = [multiprocessing.Process(target=hash_loop, args=(seconds, counter)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return counter.value / seconds


def login_rate(seconds: float, clients: int, emails: list[str]) -> tuple[float, int]:
    done, errors = [0] * clients, [0] * clients
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        http = session()
        while time.monotonic() < stop:
            body = {"email": emails[i], "password": PASSWORD}
            if http.post(f"{URL}/login", json=body).status_code == 201:
                done[i] += 1
            else:
                errors[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / seconds, sum(errors)


def race() -> dict[int, int]:
    register("race-target@example.com")
    barrier, statuses = threading.Barrier(50), []

    def guess(i: int) -> None:
        http = session()
        barrier.wait()
        body = {"email": "race-target@example.com", "password": f"wrong {i}"}
        statuses.append(http.post(f"{URL}/login", json=body).status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {status: statuses.count(status) for status in sorted(set(statuses))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    with running_server({}):
        emails = [f"bench{i}@example.com" for i in range(args.clients)]
        for email in emails:
            register(email)
        rate, errors = login_rate(args.seconds, args.clients, emails)
        print(f"logins/s over HTTPS ({args.clients} clients, {args.seconds:.0f} s): {rate:.1f}")
        print(f"  non-201 responses: {errors}")
        ceiling = argon2_ceiling(args.seconds)
        print(f"argon2id ceiling, 2 processes hashing (m=19456, t=2, p=1): {ceiling:.1f}/s")
        print(f"50 parallel wrong passwords, statuses: {race()} (each 401 is one evaluated hash)")


if __name__ == "__main__":
    main()
