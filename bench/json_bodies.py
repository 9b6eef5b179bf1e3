"""What a hostile 1 MiB JSON body costs the service: the depth check (restapi/parsers.py)
beside parsing the costliest body that passes it, medians of alternating rounds.

    .venv/bin/python bench/json_bodies.py [--rounds 7]
"""

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

MiB = 1024 * 1024


def fill(prefix: bytes, unit: bytes, suffix: bytes, size: int = MiB) -> bytes:
    return prefix + unit * ((size - len(prefix) - len(suffix)) // len(unit)) + suffix


# The largest accepted size, built to be slow for the check: many brackets, strings
# holding brackets, escapes, and nesting that is just allowed and wide.
HOSTILE = {
    "open brackets": b"[" * MiB,
    "many empty arrays": fill(b"[", b"[],", b"[]]"),
    "strings with brackets": fill(b"[", b'"[",', b'""]'),
    "escapes and brackets": fill(b"[", b'"\\"[\\\\",', b'""]'),
    "32 levels, wide": fill(b"[", b"[" * 31 + b"]" * 31 + b",", b"[]]"),
    "objects": fill(b"[", b'{"a":{}},', b"{}]"),
}


def timed(work, *args) -> float:
    started = time.perf_counter()
    work(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "restapi.settings")
    import django

    django.setup()
    from restapi.parsers import JSONParser, nested_deeper_than

    def parse(body: bytes) -> None:
        JSONParser().parse(io.BytesIO(body))

    allowed = HOSTILE["32 levels, wide"]
    parses: list[float] = []
    checks: dict[str, list[float]] = {name: [] for name in HOSTILE}
    for _ in range(rounds):
        parses.append(timed(parse, allowed))
        for name, body in HOSTILE.items():
            checks[name].append(timed(nested_deeper_than, body, 32))
    reference = statistics.median(parses)
    print(f"{'1 MiB body':<24}{'depth check':>14}{'ratio to parse':>16}")
    for name, times in checks.items():
        check = statistics.median(times)
        print(f"{name:<24}{check * 1000:>11.1f} ms{check / reference:>16.2f}")
    print(f"parsing the costliest allowed body: {reference * 1000:.1f} ms")


if __name__ == "__main__":
    main()
