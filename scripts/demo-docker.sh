#!/usr/bin/env bash
# The demo with containers (scripts/demo.sh runs it where a Docker engine answers): the Compose
# stack of deploy/compose.yaml with the stand-in images the tests use (deploy/compose.test.yaml:
# SecantusDB, RabbitMQ, the Celery test app and apache2 under pulp-init), every role healthy,
# `pulp-init check --live` in a container, a rolling upgrade in short (one migration, the gate
# opening, no restart), and `docker-compose stop` with every exit code 0. Everything it
# creates (containers, network, volumes, the v2 image tag) is removed at the end; the test
# images of scripts/images.sh stay (a cache keyed by their recipes, as the tests leave it).
# Usage: scripts/demo-docker.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh >/dev/null
echo "== building the static pulp-init and the test images (scripts/build-static.sh, scripts/images.sh)"
scripts/build-static.sh >/dev/null
scripts/images.sh >/dev/null
project=pulpdemo$$
tmp=$(mktemp -d)
v2=pulp-init-test/demo-role-v2:$$
files=(-f deploy/compose.yaml -f deploy/compose.test.yaml)
compose() { docker-compose "${files[@]}" -p "$project" "$@"; }
cleanup() {
  compose down -v -t 5 >/dev/null 2>&1 || true
  docker image rm -f "$v2" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
openssl rand -hex 16 >"$tmp/msg_password"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export PULP_MSG_PASSWORD_FILE=$tmp/msg_password PULP_HTTP_PORT=127.0.0.1:$port PULP_HTTPS_PORT=127.0.0.1:0
roles=(beat resource_manager worker1 worker2 apache)
id() { compose ps -q "$1"; }
# Waits (at most 300 s) until every container of the project is healthy and every role's
# process is up.
wait_healthy() {
  local deadline=$((SECONDS + 300)) c all shown
  while ((SECONDS < deadline)); do
    all=1
    for c in $(compose ps -q); do
      [[ $(docker inspect -f '{{.State.Health.Status}}' "$c") == healthy ]] || { all=0; break; }
    done
    # Read whole, then searched (grep -q ending a pipe early fails it under pipefail).
    shown=$(compose logs --no-color 2>/dev/null)
    ((all)) && [[ $shown == *'stand-in: beat ready'* && $shown == *'resuming normal operations'* ]] \
      && [[ $(grep -c 'stand-in: worker .* ready' <<<"$shown") -ge 3 ]] && return 0
    sleep 0.5
  done
  compose ps; echo "demo: the stack is not healthy within 300 s" >&2; return 1
}
status() { curl -s --max-time 3 "http://127.0.0.1:$port/pulp/api/v2/status/"; }
runs() { docker exec "$(id db)" /opt/venv/bin/python -c \
  "import pymongo; print(pymongo.MongoClient('127.0.0.1', 27017).pulp_database.test_runs.count_documents({'end': {'\$exists': True}}))"; }

echo
echo "== docker-compose up -d: MongoDB, RabbitMQ, beat, resource_manager, 2 workers, httpd"
t0=$SECONDS
compose up -d 2>&1 | sed 's/^/   /'
wait_healthy
echo "   every container healthy after $((SECONDS - t0)) s:"
compose ps | sed 's/^/   /'
echo
echo "== what each role's pulp-init said (config, probes, migrations once, the schema gate)"
for r in beat worker1; do
  docker logs "$(id "$r")" 2>&1 | grep -E 'pulp-init: info: (migrations|schema|server.conf|mongodb|broker|running|keys)' \
    | head -n 8 | sed "s/^/   $r: /"
done
echo
live=(--live)
grep -q -- --live <<<"$(docker exec "$(id apache)" /usr/bin/pulp-init check --help 2>&1)" || live=()
echo "== pulp-init check ${live[*]} in the worker1 and apache containers (the health check)"
[[ ${#live[@]} -eq 0 ]] && echo "   (this pulp-init has no check --live yet: plain check, MongoDB and the broker answer)"
for r in worker1 apache; do
  out=$(docker exec "$(id "$r")" /usr/bin/pulp-init check "${live[@]}" 2>&1) && code=0 || code=$?
  echo "   $r: exit $code: $out"
done
echo
echo "== Pulp's status API (httpd, port $port): the Celery processes online"
status | python3 -c 'import json,sys; print("   known_workers:", ", ".join(sorted(w["_id"] for w in json.load(sys.stdin)["known_workers"])))'
echo
echo "== a rolling upgrade: image v2 (v1 + another /etc/pulp-init/version), 10 s tasks running"
mkdir "$tmp/v2"
echo "pulp-init-test stand-ins, release 2 (demo)" >"$tmp/v2/version"
printf 'FROM pulp-init-test/role:latest\nCOPY version /etc/pulp-init/version\n' >"$tmp/v2/Containerfile"
vols=$(docker volume ls -q | sort)
docker build -q --force-rm -f "$tmp/v2/Containerfile" -t "$v2" "$tmp/v2" >/dev/null 2>"$tmp/err" \
  || { cat "$tmp/err" >&2; exit 1; }
# The classic builder's step container leaves the image's anonymous volumes behind.
comm -13 <(echo "$vols") <(docker volume ls -q | sort) | xargs -r docker volume rm >/dev/null
# Three tasks: the stand-in's workers consume the resource_manager queue too, one each.
for _ in 1 2 3; do
  docker exec "$(id resource_manager)" /opt/venv/bin/python -c "import importlib, runpy, sys
importlib.import_module('pulp.server.async.app')
sys.argv = ['send_slow.py', '10']
runpy.run_path('/opt/stand-ins/celery/send_slow.py', run_name='__main__')" >/dev/null 2>&1
done
before=$(runs)
echo "   migrations so far: $before; PULP_TEST_ROLE_IMAGE=$v2 docker-compose up -d"
t0=$SECONDS
PULP_TEST_ROLE_IMAGE=$v2 compose up -d 2>&1 | sed 's/^/   /'
export PULP_TEST_ROLE_IMAGE=$v2
wait_healthy
echo "   v2 up and healthy $((SECONDS - t0)) s after up -d (v1's resource manager finished its task first: warm stop)"
echo "-- v2 beat: waits for the v1 processes, then migrates once"
docker logs "$(id beat)" 2>&1 | grep -E 'migrations: ' | sed 's/^/   /'
echo "-- v2 worker1 and apache: waited at the schema gate, then started"
for r in worker1 apache; do
  docker logs "$(id "$r")" 2>&1 | grep -E 'schema: ' | cut -c1-160 | sed "s/^/   $r: /"
done
after=$(runs)
restarts=0
for r in "${roles[@]}"; do restarts=$((restarts + $(docker inspect -f '{{.RestartCount}}' "$(id "$r")"))); done
echo "-- migrations: $before before, $after after (one for v2); restarts of v2 containers: $restarts"
status | python3 -c 'import json,sys; print("   status API:", len(json.load(sys.stdin)["known_workers"]), "Celery processes online (v2)")'
echo
echo "== docker-compose stop: every container exits 0 (each role's own stop signal, no SIGKILL)"
t0=$SECONDS
compose stop 2>&1 | sed 's/^/   /'
bad=0
for c in $(compose ps -q); do
  line=$(docker inspect -f '{{.Name}} exit {{.State.ExitCode}}' "$c")
  echo "   ${line#/}"
  [[ $line == *" exit 0" ]] || bad=1
done
echo "   stopped in $((SECONDS - t0)) s"
echo
echo "== docker-compose down -v; the v2 image tag removed"
cleanup
trap - EXIT
left=$(docker ps -a --filter "label=com.docker.compose.project=$project" -q | wc -l)
echo "   containers of the demo left: $left"
((bad == 0 && restarts == 0 && after == before + 1 && left == 0))
