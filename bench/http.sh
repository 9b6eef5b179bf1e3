#!/usr/bin/env bash
# Requests/second over HTTPS with keep-alive (wrk, from Debian) for an authenticated
# GET /user/{id}, beside a bare Django JSON view under the same gunicorn settings.
# Needs PostgreSQL (POSTGRES_ENDPOINT, default the machine's 127.0.0.1:5432).
# Usage: bench/http.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-15}
CONNECTIONS=${2:-32}
command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk; }
export POSTGRES_ENDPOINT=${POSTGRES_ENDPOINT:-127.0.0.1:5432}
export POSTGRES_USERNAME=${POSTGRES_USERNAME:-postgres}
export DB_NAME=${DB_NAME:-restapi_bench}
export DEBUG=1 API_ACCESS_LOG=/dev/null LOG_LEVEL=WARNING
PORT=${PORT:-3443}
make -s assets >/dev/null
psql -h "${POSTGRES_ENDPOINT%:*}" -p "${POSTGRES_ENDPOINT#*:}" -U "$POSTGRES_USERNAME" -d postgres \
  -tc "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'" | grep -q 1 \
  || psql -h "${POSTGRES_ENDPOINT%:*}" -p "${POSTGRES_ENDPOINT#*:}" -U "$POSTGRES_USERNAME" -d postgres -c "CREATE DATABASE $DB_NAME" >/dev/null
.venv/bin/python manage.py migrate -v0

serve() {  # settings module → starts gunicorn in the background, sets PID
  DJANGO_SETTINGS_MODULE=$1 API_ENDPOINT=127.0.0.1:$PORT \
    .venv/bin/gunicorn -c restapi/gunicorn_conf.py restapi.wsgi >/tmp/restapi-bench.log 2>&1 &
  PID=$!
  for _ in $(seq 50); do curl -s -o /dev/null --cacert certs/tls/api/api-ca.pem "https://localhost:$PORT/" && return; sleep 0.2; done
  echo "server did not start"; cat /tmp/restapi-bench.log; exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; }
trap 'kill $PID 2>/dev/null || true' EXIT

serve restapi.settings
CURL=(curl -s --cacert certs/tls/api/api-ca.pem -H 'content-type: application/json')
CREDS='{"email":"bench@example.com","password":"bench password 123"}'
"${CURL[@]}" "https://localhost:$PORT/user" -d "$CREDS" >/dev/null
LOGIN=$("${CURL[@]}" "https://localhost:$PORT/login" -d "$CREDS")
TOKEN=$(echo "$LOGIN" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["token"])')
USER_ID=$(echo "$LOGIN" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["user_id"])')
echo "== authenticated GET /user/$USER_ID: wrk -t2 -c$CONNECTIONS -d${DURATION}s (keep-alive)"
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -H "Authorization: Bearer $TOKEN" "https://localhost:$PORT/user/$USER_ID"
stop

serve bench.bare_settings
echo "== bare Django JSON view GET /hello: wrk -t2 -c$CONNECTIONS -d${DURATION}s (keep-alive)"
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "https://localhost:$PORT/hello"
stop
