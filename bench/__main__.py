"""The benchmark suite: `python -m bench [SCENARIO ...] [--rounds 3] [--seconds 10]
[--service-dir DIR]` (make bench). See README.md, "Benchmarks"."""

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from bench import events, files, get, login, mfa, privacy, search, soak
from bench.report import Row, rounds, table
from bench.run import Bench
from bench.services import SUITE_DIR, Stack

SCENARIOS: dict[str, Callable[[Bench], None]] = {
    "get": get.scenario,
    "login": login.scenario,
    "mixed": login.mixed,
    "mfa": mfa.scenario,
    "search": search.scenario,
    "files": files.scenario,
    "events": events.scenario,
    "privacy": privacy.scenario,
    "soak": soak.scenario,
}
RESULTS = SUITE_DIR / "bench" / "RESULTS.md"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all, in order)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (≥ 1)")
    parser.add_argument("--seconds", type=float, default=10, help="length of each measurement")
    parser.add_argument("--soak-seconds", type=float, default=60)
    parser.add_argument(
        "--service-dir",
        help="the checkout whose service is measured (with its own .venv); default: this one",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the table is written")
    args = parser.parse_args(argv)
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    args.scenarios = args.scenarios or list(SCENARIOS)
    return args


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    work = Path(tempfile.mkdtemp(prefix="restapi-bench-"))
    stack = Stack(work)
    started = time.monotonic()
    # A scenario that broke off (or an interrupted run) keeps the logs and exits 1; a
    # target that is missed is a FAIL in the table, not an error of the suite.
    failed = True
    crashed: list[str] = []
    rows: list[Row] = []
    try:
        print(f"bench: starting the services (logs in {work})", flush=True)
        bench = Bench.start(stack, args)
        rows = bench.rows
        for name in args.scenarios:
            begun = time.monotonic()
            print(f"bench: {name} ...", flush=True)
            try:
                SCENARIOS[name](bench)
            except Exception as exc:
                traceback.print_exc()
                crashed.append(name)
                bench.row(Row(name, "scenario", "", failed=f"failed: {exc}"[:200]))
            print(f"bench: {name} took {time.monotonic() - begun:.0f} s", flush=True)
        elapsed = time.monotonic() - started
        text = table(rows)
        print(text)
        write_results(args, bench, text, elapsed, argv)
        print(f"bench: {len(rows)} rows in {elapsed / 60:.1f} min; written to {args.results}")
        failed = bool(crashed)
    except KeyboardInterrupt:
        print("bench: interrupted; stopping everything it started", file=sys.stderr)
    finally:
        stack.close()
        if failed:
            print(f"bench: logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


def describe(directory: Path) -> str:
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty", "--tags"],
        cwd=directory,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or "unknown"


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    memory = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    return f"{model}, {os.cpu_count()} cores, {memory}"


def cpu_pressure() -> str:
    """How contended the cores were (Linux PSI): the share of the last 5 minutes in which
    some task waited for a core. Other work on the machine shows here."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return ""
    fields = dict(item.split("=") for item in line.split()[1:])
    return f"; a task waited for a core {float(fields['avg300']):.0f} % of the last 5 min"


def write_results(
    args: argparse.Namespace, bench: Bench, text: str, elapsed: float, argv: list[str]
) -> None:
    load = os.getloadavg()
    lines = [
        "# Benchmark results",
        "",
        'Written by `make bench` (`python -m bench`); README.md, "Benchmarks", says what each'
        " row measures. Every server, the generators and the references share one machine.",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- service: `{describe(bench.service_dir)}` ({bench.service_dir})",
        f"- suite: `{describe(SUITE_DIR)}`",
        f"- machine: {machine()}; at the end: load average {load[0]:.1f} / {load[1]:.1f}"
        f" / {load[2]:.1f}{cpu_pressure()}",
        f"- command: `{' '.join(['python -m bench', *argv])}`",
        f"- rounds: {args.rounds}, {args.seconds:g} s per measurement, soak"
        f" {args.soak_seconds:g} s; run time {elapsed / 60:.1f} min",
        "",
        "Figures are medians over the rounds (ours and the reference alternating); the"
        " ratio is ours / reference.",
        "",
        text,
        "",
    ]
    notes = [
        f"- {row.scenario}, {row.measure}: " + "; ".join(x for x in (row.failed, row.note) if x)
        for row in bench.rows
        if row.note or row.failed
    ]
    if notes:
        lines += ["Notes:", "", *notes, ""]
    lines += ["Each round (ours | reference):", ""]
    lines += [f"- {row.scenario}, {row.measure}: {rounds(row)}" for row in bench.rows if row.ours]
    lines.append("")
    lines += ["How each scenario measured:", ""]
    for scenario, methods in bench.methods.items():
        lines += [f"- {scenario}: {method}" for method in methods]
    args.results.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
