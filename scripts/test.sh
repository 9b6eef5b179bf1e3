#!/usr/bin/env bash
# Runs every check on PostgreSQL: the machine's server on 127.0.0.1:5432 when one answers,
# otherwise a throwaway cluster on a free port, stopped on exit. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

started_pg_dir=""
cleanup() {
  if [ -n "$started_pg_dir" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$started_pg_dir/data" -m fast stop >/dev/null || true
    rm -rf "$started_pg_dir"
  fi
}
trap cleanup EXIT

if "$BIN/python" - <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
except OSError:
    sys.exit(1)
PY
then
  export POSTGRES_ENDPOINT=127.0.0.1:5432
else
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$PG_BIN" ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  started_pg_dir=$(mktemp -d)
  chown postgres "$started_pg_dir"
  port=$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  runuser -u postgres -- "$PG_BIN/initdb" -D "$started_pg_dir/data" -A trust -U postgres >/dev/null
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$started_pg_dir/data" -w -l "$started_pg_dir/log" \
    -o "-p $port -k $started_pg_dir -c listen_addresses=127.0.0.1" start >/dev/null
  export POSTGRES_ENDPOINT=127.0.0.1:$port
  echo "Started a throwaway PostgreSQL on $POSTGRES_ENDPOINT"
fi
# stunnel puts TLS with client certificates in front of the test Kafka broker.
if ! command -v stunnel4 >/dev/null; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q stunnel4
fi
# promtool checks deploy/prometheus/ (tests/test_alerts.py); Debian's prometheus has it.
if ! command -v promtool >/dev/null; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus
fi

# Read at import by every settings module (many values follow it), in this process and in
# every server and command the tests start; the rest of the suite's settings are
# restapi/settings/test.py.
export DEBUG=1

"$BIN/ruff" check .
"$BIN/ruff" format --check .
"$BIN/mypy" restapi auth mfa audit users userdata privacy kafka_events
"$BIN/python" manage.py makemigrations --check --dry-run --settings=restapi.settings.test
"$BIN/python" manage.py collectstatic --no-input -v0 --settings=restapi.settings.test
"$BIN/python" -m pytest "$@"
