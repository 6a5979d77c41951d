#!/usr/bin/env bash
# Benchmark (not a test): the rolling upgrade of tests/upgrade.rs, ROUNDS times, with pulp-init
# as the entrypoint, next to the same scenario with the seed-style image (bench/compose.seed.yaml:
# the original shell entrypoint, pulp-manage-db on every beat start, no lock, no gate):
#   v1 stack up (every role's process up; pulp-init: every container healthy), a 10 s task
#   running on the resource manager, then `docker-compose up -d` with v2 (the same image with
#   another /etc/pulp-init/version), which recreates every role (old stopped, new started).
# Per round:
#   migrations      runs of the pulp-manage-db stand-in during the upgrade (started/finished)
#   restarts        RestartCount summed over the v2 containers, and their die events
#   v1_exits        exit codes of the v1 containers
#   mig_after_ms    the migration's start after the last v1 pod (any role) ended (die event)
#   gate_ms         per gated role: its "schema: migrated for this image" line after the
#                   record's completed_at (pulp-init only)
#   api_down_ms     the status API (published port, polled every 50 ms): last 200 of v1 to
#                   first 200 of v2
#   up_ms           `up -d` with v2 to every v2 role's process up (or "-": not within WINDOW)
# Usage: bench/upgrade.sh     (env ROUNDS=3, SEED_ROUNDS=ROUNDS, WINDOW=240 seconds to wait for
#                              v2 to come up; needs the images of scripts/images.sh)
# Output: a line per round (bench/results/upgrade.txt), then a table (medians, p50/p95).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SEED_ROUNDS=${SEED_ROUNDS:-$ROUNDS}
WINDOW=${WINDOW:-240}
TASK=10
compose() { docker-compose "$@"; }
out=bench/results/upgrade.txt
mkdir -p bench/results
: >"$out"
scripts/images.sh >/dev/null
tmp=$(mktemp -d)
v2_role=pulp-init-test/bench-upgrade-role-v2:$$
v2_seed=pulp-init-test/bench-upgrade-seed-v2:$$
poller=
events=
project=
files=()
cleanup() {
  [[ -n $poller ]] && kill "$poller" 2>/dev/null || true
  [[ -n $events ]] && kill "$events" 2>/dev/null || true
  [[ -n $project ]] && compose "${files[@]}" -p "$project" down -v -t 5 >/dev/null 2>&1 || true
  docker image rm -f "$v2_role" "$v2_seed" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
printf 'bench-password\n' >"$tmp/secret"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export PULP_MSG_PASSWORD_FILE=$tmp/secret PULP_HTTP_PORT=127.0.0.1:$port PULP_HTTPS_PORT=127.0.0.1:0
export BENCH_BROKER_URL='amqp://pulp:bench-password@msg:5672//'
roles=(beat resource_manager worker1 worker2 apache)
gated=(resource_manager worker1 worker2 apache)
now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%d", (b-a)*1000}'; }

# v2 = v1 with another /etc/pulp-init/version (the classic builder's step container would
# leave the image's anonymous volumes behind: removed).
mkdir "$tmp/v2"
echo "pulp-init-test stand-ins, release 2" >"$tmp/v2/version"
vols_before=$(docker volume ls -q | sort)
for pair in "pulp-init-test/role:latest $v2_role" "pulp-init-test/seed:latest $v2_seed"; do
  read -r from tag <<<"$pair"
  printf 'FROM %s\nCOPY version /etc/pulp-init/version\n' "$from" >"$tmp/v2/Containerfile"
  docker build -q --force-rm -f "$tmp/v2/Containerfile" -t "$tag" "$tmp/v2" >/dev/null
done
comm -13 <(echo "$vols_before") <(docker volume ls -q | sort) | xargs -r docker volume rm >/dev/null

ready_line() {
  case $1 in
    beat) echo 'stand-in: beat ready' ;;
    resource_manager) echo 'stand-in: worker resource_manager@' ;;
    worker*) echo 'stand-in: worker reserved_resource_worker-' ;;
    apache) echo 'resuming normal operations' ;;
  esac
}
# Waits until every role's process is up (pulp-init: and every container healthy); 1 if not
# within WINDOW seconds.
wait_up() { # KIND
  local deadline=$((SECONDS + WINDOW)) r id all
  while ((SECONDS < deadline)); do
    all=1
    for r in "${roles[@]}"; do
      id=$(compose "${files[@]}" -p "$project" ps -q "$r")
      grep -qF "$(ready_line "$r")" <<<"$(docker logs "$id" 2>&1)" || { all=0; break; }
      if [[ $1 == init ]]; then
        [[ $(docker inspect -f '{{.State.Health.Status}}' "$id") == healthy ]] || { all=0; break; }
      fi
    done
    ((all)) && return 0
    sleep 0.2
  done
  return 1
}
db_py() { # CODE: python with pymongo in the db container
  docker exec "$(compose "${files[@]}" -p "$project" ps -q db)" /opt/venv/bin/python -c \
    "import calendar, pymongo
db = pymongo.MongoClient('127.0.0.1', 27017).pulp_database
def epoch(d): return calendar.timegm(d.utctimetuple()) + d.microsecond / 1e6
$1"
}
poll() { # every 50 ms: "<epoch> <http code>"
  while :; do
    printf '%s %s\n' "$(now)" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/pulp/api/v2/status/" || true)"
    sleep 0.05
  done
}

one() { # KIND ROUND
  local kind=$1 round=$2 t0 t_up= line id r v2_image
  project="pibup${kind}$$r$round"
  files=(-f deploy/compose.yaml -f deploy/compose.test.yaml)
  [[ $kind == seed ]] && files+=(-f bench/compose.seed.yaml)
  unset PULP_TEST_ROLE_IMAGE PULP_TEST_SEED_IMAGE
  compose "${files[@]}" -p "$project" up -d >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  if ! wait_up "$kind"; then
    echo "FAILED: $kind round $round: v1 not up in $WINDOW s" >&2
    echo "# failed: $kind round $round: v1 not up in $WINDOW s" >>"$out"
    compose "${files[@]}" -p "$project" ps >&2
    docker logs --tail 8 "$(compose "${files[@]}" -p "$project" ps -q beat)" 2>&1 | sed 's/^/    beat: /' >&2
    compose "${files[@]}" -p "$project" down -v -t 5 >/dev/null 2>&1; project=
    return 1
  fi
  local -A v1
  for r in "${roles[@]}"; do v1[$r]=$(compose "${files[@]}" -p "$project" ps -q "$r"); done
  local runs_before
  runs_before=$(db_py "print(db.test_runs.count_documents({}))")
  # The stand-in's workers consume the resource_manager queue too: tasks are sent until one
  # runs on the resource manager (its warm stop waits for it).
  local sent=0 deadline
  until grep -q 'slow task start' <<<"$(docker logs "${v1[resource_manager]}" 2>&1)"; do
    ((sent < 8)) || { echo "FAILED: $kind round $round: no task on the resource manager" >&2; return 1; }
    docker exec "${v1[resource_manager]}" /opt/venv/bin/python -c "import importlib, runpy, sys
importlib.import_module('pulp.server.async.app')
sys.argv = ['send_slow.py', '$TASK']
runpy.run_path('/opt/stand-ins/celery/send_slow.py', run_name='__main__')" >/dev/null 2>&1
    sent=$((sent + 1))
    deadline=$((SECONDS + 2))
    while ((SECONDS < deadline)) && ! grep -q 'slow task start' <<<"$(docker logs "${v1[resource_manager]}" 2>&1)"; do sleep 0.1; done
  done
  # Die events streamed (the engine keeps only its last 256 events; health checks fill them).
  docker events --filter type=container --filter event=die \
    --format '{{.TimeNano}} {{.Actor.ID}} {{index .Actor.Attributes "exitCode"}}' >"$tmp/died" & events=$!
  poll >"$tmp/poll" & poller=$!
  sleep 0.3
  t0=$(now)
  if [[ $kind == init ]]; then export PULP_TEST_ROLE_IMAGE=$v2_role; v2_image=$v2_role
  else export PULP_TEST_SEED_IMAGE=$v2_seed; v2_image=$v2_seed; fi
  compose "${files[@]}" -p "$project" up -d >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  wait_up "$kind" && t_up=$(now)
  sleep 1
  kill "$poller"; wait "$poller" 2>/dev/null || true; poller=
  local t1; t1=$(now)
  local -A v2
  for r in "${roles[@]}"; do v2[$r]=$(compose "${files[@]}" -p "$project" ps -q "$r"); done
  kill "$events"; wait "$events" 2>/dev/null || true; events=
  # The figures.
  local started finished restarts=0 v2_deaths=0 v1_exits="" last_die=0 mig_after=- gate="" api_down
  read -r started finished < <(db_py "
q = {'start': {'\$gt': $t0}}
print(db.test_runs.count_documents(q), db.test_runs.count_documents(dict(q, end={'\$exists': True})))")
  for r in "${roles[@]}"; do
    restarts=$((restarts + $(docker inspect -f '{{.RestartCount}}' "${v2[$r]}")))
    v2_deaths=$((v2_deaths + $(awk -v id="${v2[$r]}" '$2 == id' "$tmp/died" | wc -l)))
    v1_exits+="${v1_exits:+/}$(awk -v id="${v1[$r]}" '$2 == id {print $3}' "$tmp/died" | head -n1)"
  done
  for r in "${roles[@]}"; do
    last_die=$(awk -v id="${v1[$r]}" -v l="$last_die" '$2 == id && $1/1e9 > l {l = $1/1e9} END {printf "%.6f", l}' "$tmp/died")
  done
  local first_start
  first_start=$(db_py "
r = db.test_runs.find_one({'start': {'\$gt': $t0}}, sort=[('start', 1)])
print(r['start'] if r else '-')")
  [[ $first_start != - ]] && mig_after=$(ms "$last_die" "$first_start")
  if [[ $kind == init ]]; then
    local completed ts
    completed=$(db_py "print(epoch(db.pulp_init.find_one({'_id': {'\$regex': '^migrated:'}}, sort=[('completed_at', -1)])['completed_at']))")
    for r in "${gated[@]}"; do
      ts=$(docker logs -t "${v2[$r]}" 2>&1 | grep -m1 'schema: migrated for this image (' | cut -d' ' -f1 || true)
      if [[ -n $ts ]]; then gate+=" gate_$r=$(ms "$completed" "$(date -d "$ts" +%s.%N)")"; else gate+=" gate_$r=-"; fi
    done
  fi
  api_down=$(python3 - "$tmp/poll" <<'PY'
import sys
seen = [(float(t), c == "200") for t, c in (l.split() for l in open(sys.argv[1]) if len(l.split()) == 2)]
fail = next((i for i, (_, ok) in enumerate(seen) if not ok), None)
if fail is None or not any(ok for _, ok in seen[:fail]):
    print("-")
else:
    last = [t for t, ok in seen[:fail] if ok][-1]
    back = next((t for t, ok in seen[fail:] if ok), None)
    print("%d" % ((back - last) * 1000) if back else "never")
PY
)
  line="$kind round=$round migrations=$started/$finished restarts=$restarts v2_deaths=$v2_deaths v1_exits=$v1_exits mig_after_ms=$mig_after api_down_ms=$api_down up_ms=$( [[ -n $t_up ]] && ms "$t0" "$t_up" || echo -)$gate"
  echo "$line" | tee -a "$out"
  if [[ $kind == seed ]]; then
    # What the seed beat said (pulp-manage-db's live-worker check), last lines.
    docker logs --tail 6 "${v2[beat]}" 2>&1 | sed 's/^/    seed beat v2: /' | tee -a "$out"
  fi
  compose "${files[@]}" -p "$project" down -v -t 5 >/dev/null 2>&1; project=
  unset PULP_TEST_ROLE_IMAGE PULP_TEST_SEED_IMAGE
}

# A round that fails (a stack not up within WINDOW) is named and left out; the script then
# exits 1 after the table of the others.
failed=0
for round in $(seq 1 "$ROUNDS"); do one init "$round" || failed=1; done
for round in $(seq 1 "$SEED_ROUNDS"); do one seed "$round" || failed=1; done
echo
python3 - "$out" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if not line[0].isalpha():
        continue
    kind = line.split()[0]
    rows.setdefault(kind, []).append(dict(re.findall(r"(\w+)=([^ ]+)", line)))
def nums(kind, key):
    return [int(r[key]) for r in rows.get(kind, []) if r.get(key, "-").lstrip("-").isdigit()]
def med(kind, key):
    v = nums(kind, key)
    return "%d ms" % statistics.median(v) if v else "-"
def p(v, q):
    v = sorted(v)
    return v[max(0, -(-len(v) * q // 100) - 1)]
def all_of(kind, key):
    return ", ".join(r.get(key, "-") for r in rows.get(kind, []))
n = {k: len(v) for k, v in rows.items()}
print("| rolling upgrade, %d / %d rounds | pulp-init | seed-style (run.sh) |" % (n.get("init", 0), n.get("seed", 0)))
print("|---|---|---|")
print("| migrations run during the upgrade (started/finished), per round | %s | %s |" % (all_of("init", "migrations"), all_of("seed", "migrations")))
print("| restarts of v2 containers, per round | %s | %s |" % (all_of("init", "restarts"), all_of("seed", "restarts")))
print("| v1 exit codes (beat/rm/w1/w2/apache) | %s | %s |" % (all_of("init", "v1_exits"), all_of("seed", "v1_exits")))
print("| migration start after the last v1 pod ended, median | %s | %s |" % (med("init", "mig_after_ms"), med("seed", "mig_after_ms")))
gates = [g for r in rows.get("init", []) for k, g in r.items() if k.startswith("gate_") and g.lstrip("-").isdigit()]
gates = [int(g) for g in gates]
print("| gate open after the record, p50 / p95 (%d openings) | %s | (no gate) |" % (
    len(gates), "%d ms / %d ms" % (p(gates, 50), p(gates, 95)) if gates else "-"))
print("| API downtime (status 200 by v1 -> by v2), median | %s | %s |" % (med("init", "api_down_ms"), med("seed", "api_down_ms")))
print("| up -d with v2 -> every v2 role up, median | %s | %s |" % (med("init", "up_ms"), med("seed", "up_ms")))
PY
((failed == 0))
