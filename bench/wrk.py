"""Closed-loop maximum rates with wrk (from Debian), over keep-alive connections.

Requests cycle through a list (one account after another); a body may hold `{n}`, which
becomes a value unique to each request, so that every write changes something.
"""

import itertools
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.services import BenchError, Server

SCRIPTS = itertools.count()


@dataclass(frozen=True)
class Spec:
    method: str
    path: str
    headers: dict[str, str]
    body: str | None = None


@dataclass(frozen=True)
class Outcome:
    rate: float
    requests: int
    non_2xx: int
    socket_errors: int
    command: str

    @property
    def ok_rate(self) -> float:
        """The rate of 2xx answers: refusals (a 503 when overloaded) are fast, not work."""
        if not self.requests:
            return 0.0
        return self.rate * (self.requests - self.non_2xx) / self.requests


def lua_string(text: str) -> str:
    if "]==]" in text:
        raise ValueError("text holds the Lua long-string terminator")
    return f"[==[{text}]==]"


def lua_script(specs: list[Spec]) -> str:
    entries = []
    for spec in specs:
        headers = ", ".join(
            f"[ {lua_string(k)} ] = {lua_string(v)}" for k, v in spec.headers.items()
        )
        body, template = "nil", "nil"
        if spec.body is not None and "{n}" in spec.body:
            before, _, after = spec.body.partition("{n}")
            template = f"{{{lua_string(before)}, {lua_string(after)}}}"
        elif spec.body is not None:
            body = lua_string(spec.body)
        entries.append(
            f"{{method = {lua_string(spec.method)}, path = {lua_string(spec.path)}, "
            f"headers = {{{headers}}}, body = {body}, template = {template}}}"
        )
    return (
        "local specs = {\n  "
        + ",\n  ".join(entries)
        + "\n}\n"
        + """
local counter = 0
local fixed = {}
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tag", "t" .. threads)
end

function init(args)
  for i, s in ipairs(specs) do
    if s.template == nil then fixed[i] = wrk.format(s.method, s.path, s.headers, s.body) end
  end
end

function request()
  counter = counter + 1
  local i = (counter % #specs) + 1
  if fixed[i] then return fixed[i] end
  local s = specs[i]
  local body = s.template[1] .. tag .. "-" .. counter .. s.template[2]
  return wrk.format(s.method, s.path, s.headers, body)
end
"""
    )


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise BenchError("wrk is not installed (make bench installs it: apt-get install wrk)")
    return found


def run_wrk(
    server: Server,
    specs: list[Spec],
    *,
    seconds: float,
    connections: int,
    work: Path,
    threads: int = 2,
) -> Outcome:
    script = work / f"wrk-{next(SCRIPTS)}.lua"
    script.write_text(lua_script(specs))
    argv = [
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        server.url + specs[0].path,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise BenchError(f"wrk failed: {done.stderr[-2000:]}")
    return parse(done.stdout, " ".join([*argv[:-3], "<script>", argv[-1]]))


def parse(output: str, command: str) -> Outcome:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rate is None or total is None:
        raise BenchError(f"wrk printed no rate:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return Outcome(
        rate=float(rate.group(1)),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(x) for x in errors.groups()) if errors else 0,
        command=command,
    )
