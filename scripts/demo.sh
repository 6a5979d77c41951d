#!/usr/bin/env bash
# The main job end to end, on a scratch copy of a real Pulp server.conf: the environment a
# Pulp container gets, the diff pulp-init would apply, the edit, what Pulp reads back, then
# the wait for real MongoDB (SecantusDB, with SCRAM auth) and RabbitMQ started here, and a
# real Celery worker run by pulp-init as PID 1 of a new PID namespace until `docker stop`.
# Usage: scripts/demo.sh [--namespaces | --docker]
#   where a Docker engine answers (`docker info`), the demo with containers
#   (scripts/demo-docker.sh: the Compose stack, a rolling upgrade, docker-compose stop);
#   --namespaces: this demo (no Docker), which is also what runs without an engine.
set -euo pipefail
cd "$(dirname "$0")/.."
case ${1:-} in
  --namespaces) ;;
  --docker) exec scripts/demo-docker.sh ;;
  "")
    if docker info >/dev/null 2>&1; then exec scripts/demo-docker.sh; fi
    echo "demo: no Docker engine answers (docker info failed): the demo in namespaces instead (scripts/demo.sh --docker needs one)" ;;
  *) echo "usage: scripts/demo.sh [--namespaces | --docker]" >&2; exit 64 ;;
esac
scripts/install-deps.sh >/dev/null
cargo build --release --locked --quiet
bin=$PWD/target/release/pulp-init
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mongo_port=$(free_port)
rabbit_port=$(free_port)
cleanup() {
  [[ -n "${init_ns:-}" ]] && kill -KILL "$init_ns" 2>/dev/null
  scripts/mongo.sh stop "$work/mongo" >/dev/null 2>&1 || true
  scripts/rabbitmq.sh stop "$work/rabbit" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cp tests/fixtures/server-conf/pulp-2.21-final.conf "$work/server.conf"
printf 'hunter2\n' >"$work/db-password"
# pulp-manage-db (and its stand-in) refuses root: the migration runs as nobody, who must
# reach the stand-in and server.conf.
chmod 0755 "$work"
cp tests/apps/migrate.py "$work/migrate.py"
chmod 0644 "$work/server.conf" "$work/migrate.py"

export PULP_SERVER_CONF="$work/server.conf"
export PULP_SERVER_NAME=pulp.example.com
export DB_SERVICE_HOST=127.0.0.1 DB_SERVICE_PORT=$mongo_port
export PULP__DATABASE__USERNAME=pulp
export PULP__DATABASE__PASSWORD_FILE="$work/db-password"
export MSG_SERVICE_HOST=127.0.0.1 MSG_SERVICE_PORT=$rabbit_port MSG_SERVICE_TYPE=rabbitmq
export MSG_SERVICE_USER=pulp MSG_SERVICE_PASSWORD='s3cr%t@pass' MSG_SERVICE_VHOST=pulp

echo "== pulp-init config --diff (nothing written; secrets redacted)"
"$bin" config --diff
echo
echo "== pulp-init config"
"$bin" config
echo
echo "== a second run changes nothing"
"$bin" config
echo
echo "== what Pulp reads back (Python 2.7's SafeConfigParser, as Pulp 2 reads server.conf)"
py2=$(pyenv root 2>/dev/null)/versions/2.7.18/bin/python
if [[ -x "$py2" ]]; then judge=("$py2" tests/py/read_conf2.py); else judge=(python3 tests/py/read_conf.py); fi
"${judge[@]}" "$work/server.conf" | python3 -c '
import json, re, sys
conf = json.load(sys.stdin)
conf = {s: {k: (v["value"] if isinstance(v, dict) else v) for k, v in keys.items()}
        for s, keys in conf.get("sections", conf).items()}
for section, key in [("server", "server_name"), ("database", "seeds"), ("database", "username"),
                     ("messaging", "url"), ("messaging", "transport"), ("tasks", "broker_url")]:
    value = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", conf[section][key])
    print(f"[{section}] {key} = {value}")
print("[database] password and the broker password are set (not shown)")'
echo
echo "== bad input: one clear line, exit 64, file untouched"
DB_SERVICE_PORT=27O17 "$bin" config || echo "exit status: $?"
echo
echo "== pulp-init check with nothing running: one attempt each, exit 69"
"$bin" check || echo "exit status: $?"
echo
echo "== starting MongoDB (SecantusDB, --auth, user pulp) and RabbitMQ (user pulp, vhost pulp) on loopback"
scripts/mongo.sh start "$work/mongo" "$mongo_port" --auth pulp hunter2 pulp_database >/dev/null 2>&1 &
mongo_starting=$!
scripts/rabbitmq.sh start "$work/rabbit" "$rabbit_port" >/dev/null
scripts/rabbitmq.sh adduser "$work/rabbit" pulp 's3cr%t@pass' pulp >/dev/null
echo
echo "== pulp-init wait: MongoDB may still be starting; it is noticed as soon as it answers"
"$bin" wait --timeout 60s
wait "$mongo_starting"
echo
echo "== pulp-init check (a readiness probe): both answer, exit 0"
"$bin" check && echo "exit status: 0"
echo
venv=${PULP_INIT_VENV:-/opt/pulp-init-venv}
echo "== keys (issue 17): a set for a deployment's Secret, then checked as Pulp will read it"
"$bin" keys --out "$work/pki" --server-name pulp.example.com --fqdn ca.example.com
ls -l "$work/pki" | tail -n +2
printf '[server]\nserver_name: pulp.example.com\n[authentication]\nrsa_key: %s\nrsa_pub: %s\n[security]\ncakey: %s\ncacert: %s\n' \
  "$work/pki/rsa.key" "$work/pki/rsa_pub.key" "$work/pki/ca.key" "$work/pki/ca.crt" >"$work/pki-server.conf"
"$bin" keys --check --conf "$work/pki-server.conf" --user root \
  --tls-cert "$work/pki/tls.crt" --tls-key "$work/pki/tls.key"
echo "   (the roles below skip the keys phase: they would look in this machine's /etc/pki; and"
echo "   make and write-test Pulp's directories under $work, not this machine's /var/lib/pulp)"
export PULP_INIT_SKIP_KEYS=true
export PULP_INIT_DIRS="$work/var/lib/pulp/celery,$work/var/cache/pulp"
echo
# The stand-in for pulp-manage-db, as nobody: Debian's python3 with the venv's packages.
migrate_cmd="/usr/bin/python3 $work/migrate.py"
export PYTHONPATH_MIGRATE="$venv/lib/python3.11/site-packages"
echo "== beat: migrations once. A stand-in for pulp-manage-db (tests/apps/migrate.py, which"
echo "   records its runs in MongoDB) runs under the lock; the second start skips it"
for start in first second; do
  echo "-- $start start of the beat role"
  PATH="$venv/bin:$PATH" TEST_MONGO_URL="mongodb://pulp:hunter2@127.0.0.1:$mongo_port/pulp_database" \
    PULP_INIT_MIGRATION_FINGERPRINT=pulp-2.21.5-demo PYTHONPATH="$PYTHONPATH_MIGRATE" \
    "$bin" --role beat --user nobody --migrate-command "$migrate_cmd" \
    -- sh -c 'echo "(celery beat would start here)"'
done
echo
echo "== a worker of a NEW image (another fingerprint) waits at the schema gate for a beat of"
echo "   its own image; here with a 2 s deadline: exit 75, naming both fingerprints"
PATH="$venv/bin:$PATH" TEST_MONGO_URL="mongodb://pulp:hunter2@127.0.0.1:$mongo_port/pulp_database" \
  PULP_INIT_MIGRATION_FINGERPRINT=pulp-2.21.6-next MIGRATE_DRY_RUN_EXIT=1 PYTHONPATH="$PYTHONPATH_MIGRATE" \
  "$bin" --role worker --user nobody --migrate-command "$migrate_cmd" \
  --migrate-timeout 2s -- true || echo "exit status: $?"
echo
echo "== the resource_manager role as PID 1 (unshare --pid): config, wait, the schema gate (open:"
echo "   beat of this image migrated), then a real Celery worker (the test app in"
echo "   tests/apps/celery, run as root: the role's user 'apache' is not on this machine)"
log=$work/worker.log
# The worker makes its working directory in [server] working_directory, as Pulp's does.
mkdir -p "$work/cache"
PATH="$venv/bin:$PATH" PYTHONPATH="$PWD/tests/apps/celery" \
  TEST_BROKER_URL="amqp://pulp:s3cr%25t%40pass@127.0.0.1:$rabbit_port/pulp" \
  TEST_MONGO_URL="mongodb://pulp:hunter2@127.0.0.1:$mongo_port/pulp_database" \
  TEST_WORKING_DIRECTORY="$work/cache" \
  PULP_INIT_MIGRATION_FINGERPRINT=pulp-2.21.5-demo \
  unshare --pid --fork --mount-proc --kill-child "$bin" --role resource_manager --user root \
  --migrate-command "$migrate_cmd" -- \
  celery -A pulp_test_app worker -n resource_manager@%h -Q resource_manager -c 1 --events \
  --umask 18 -l INFO >"$log" 2>&1 &
init_ns=$!
deadline=$((SECONDS + 60))
until grep -q ' ready\.' "$log"; do
  if ((SECONDS > deadline)) || ! kill -0 "$init_ns" 2>/dev/null; then cat "$log"; exit 1; fi
  sleep 0.1
done
pid1=$(awk '{print $1}' "/proc/$init_ns/task/$init_ns/children")
grep -E '^pulp-init|ready\.' "$log"
echo
echo "== PID 1 of the namespace is pulp-init (host pid $pid1): $(tr '\0' ' ' <"/proc/$pid1/cmdline" | cut -c1-60)..."
echo "   a fresh single-threaded image after the probes: threads: $(awk '/^Threads/{print $2}' "/proc/$pid1/status")"
echo
echo "== the worker's queues in RabbitMQ (vhost pulp)"
scripts/rabbitmq.sh queues "$work/rabbit" pulp
echo
echo "== docker stop: SIGTERM to PID 1 -> forwarded to celery -> warm shutdown"
kill -TERM "$pid1"
wait "$init_ns" && status=0 || status=$?
init_ns=
grep -E 'Warm shutdown|^pulp-init: info: (forwarding|celery)' "$log"
echo "container exit status: $status"
echo
