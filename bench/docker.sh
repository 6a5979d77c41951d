#!/usr/bin/env bash
# Benchmark (not a test): the stand-in Compose stack (deploy/compose.yaml + compose.test.yaml:
# SecantusDB, RabbitMQ, beat, resource_manager, 2 workers, httpd) with pulp-init as the
# entrypoint, against the same stack with the seed-style image (the original shell entrypoint,
# bench/compose.seed.yaml), side by side in one run, ROUNDS times each, alternating:
#   up      `docker-compose up -d` until every role's process is up (its log line), and for
#           pulp-init until every container is healthy (`pulp-init check`; the seed image has
#           no health check)
#   stop    `docker-compose stop` of the whole stack (the timeouts are the stop_grace_period
#           values of compose.yaml), and per role container: time from the stop to its exit,
#           exit code, and whether it was SIGKILLed: by Docker (exit 137 at the grace period)
#           or inside the container (runuser's "...killed." after its own 2 s)
# Usage: bench/docker.sh        (env ROUNDS=3; needs the images of scripts/images.sh)
# Output: a table per round, then medians; raw lines in bench/results/docker.txt.
# A round that meets a failure (the stack not up, a container restarting or already ended
# before the stop) is named with what each container was doing, left out of the medians,
# and makes the script exit 1: a benchmark never reports numbers of a broken stack.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
compose() { docker-compose "$@"; }
out=bench/results/docker.txt
mkdir -p bench/results
: >"$out"
scripts/images.sh >/dev/null
secret=$(mktemp)
errs=$(mktemp)
trap 'rm -f "$secret" "$errs"' EXIT
printf 'bench-password\n' >"$secret"
export PULP_MSG_PASSWORD_FILE=$secret PULP_HTTP_PORT=127.0.0.1:0
export BENCH_BROKER_URL='amqp://pulp:bench-password@msg:5672//'
roles=(beat resource_manager worker1 worker2 apache)
failures=()
now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%d", (b-a)*1000}'; }
ready_line() { # the line that shows the role's process is up
  case $1 in
    beat) echo 'stand-in: beat ready' ;;
    resource_manager) echo 'stand-in: worker resource_manager@' ;;
    worker*) echo 'stand-in: worker reserved_resource_worker-' ;;
    apache) echo 'resuming normal operations' ;;
  esac
}

one() { # KIND ROUND
  local kind=$1 round=$2 project files t0 t_ready= t_healthy= id ok all deadline why=
  project="pib${kind}$$r$round"
  files=(-f deploy/compose.yaml -f deploy/compose.test.yaml)
  [[ $kind == seed ]] && files+=(-f bench/compose.seed.yaml)
  local -A cid
  t0=$(now)
  if ! compose "${files[@]}" -p "$project" up -d >/dev/null 2>"$errs"; then
    cat "$errs" >&2; echo "$kind round $round: compose up failed" >&2; exit 1
  fi
  for r in "${roles[@]}"; do cid[$r]=$(compose "${files[@]}" -p "$project" ps -q "$r"); done
  deadline=$((SECONDS + 300))
  while [[ -z "$t_ready" || ( $kind == init && -z "$t_healthy" ) ]]; do
    ((SECONDS < deadline)) || { why="not up in 300 s"; break; }
    if [[ -z "$t_ready" ]]; then
      all=1
      for r in "${roles[@]}"; do
        docker logs "${cid[$r]}" 2>&1 | grep -qF "$(ready_line "$r")" || { all=0; break; }
      done
      ((all)) && t_ready=$(now)
    fi
    if [[ $kind == init && -z "$t_healthy" ]]; then
      ok=1
      for id in $(compose "${files[@]}" -p "$project" ps -q); do
        [[ $(docker inspect -f '{{.State.Health.Status}}' "$id") == healthy ]] || { ok=0; break; }
      done
      ((ok)) && t_healthy=$(now)
    fi
    sleep 0.2
  done
  local s0 s1 fin code killed stop_ms line state restarts stopped
  # Every role running and never restarted, else the stop times below mean nothing.
  for r in "${roles[@]}"; do
    state=$(docker inspect -f '{{.State.Status}} exit={{.State.ExitCode}} restarts={{.RestartCount}}' "${cid[$r]}")
    [[ $state == "running exit=0 restarts=0" ]] || why+="${why:+; }$r $state"
  done
  s0=$(now)
  compose "${files[@]}" -p "$project" stop >/dev/null 2>&1
  s1=$(now)
  stop_ms=$(ms "$s0" "$s1")
  line="$kind round=$round up_ms=$( [[ -n $t_ready ]] && ms "$t0" "$t_ready" || echo -) healthy_ms=$( [[ -n $t_healthy ]] && ms "$t0" "$t_healthy" || echo -) stack_stop_ms=$stop_ms"
  local kills=0
  for r in "${roles[@]}"; do
    fin=$(docker inspect -f '{{.State.FinishedAt}}' "${cid[$r]}")
    code=$(docker inspect -f '{{.State.ExitCode}}' "${cid[$r]}")
    # Docker's SIGKILL at the grace period is exit 137. runuser prints "...killed." after
    # its SIGKILL whether or not the service was still running; a Celery worker that ended
    # by itself says so (the stand-in's atexit line), so "...killed." without it is a kill.
    # Beat leaves through os._exit (no atexit line) and is gone 0.1 s after SIGTERM, long
    # before runuser's 2 s; httpd runs without runuser.
    killed=no
    if [[ $code == 137 ]]; then killed=docker
    elif [[ $r != apache && $r != beat ]] && docker logs "${cid[$r]}" 2>&1 | grep -q 'killed\.' \
         && ! docker logs "${cid[$r]}" 2>&1 | grep -q 'stand-in: celery exited by itself'; then
      killed=runuser
    fi
    [[ $killed != no ]] && kills=$((kills + 1))
    stopped=$(ms "$s0" "$(date -d "$fin" +%s.%N)")
    ((stopped >= 0)) || why+="${why:+; }$r had ended before the stop (exit $code)"
    line+=" $r=exit:$code,stopped_ms:$stopped,sigkill:$killed"
  done
  line+=" sigkills=$kills"
  if [[ -n $why ]]; then
    echo "FAILED: $kind round $round: $why" >&2
    for r in "${roles[@]}"; do
      echo "--- $r (last lines)" >&2
      docker logs --tail 5 "${cid[$r]}" 2>&1 | sed 's/^/    /' >&2
    done
    failures+=("$kind round $round: $why")
    echo "# failed: $line" >>"$out"
  else
    echo "$line" | tee -a "$out"
  fi
  compose "${files[@]}" -p "$project" down -v >/dev/null 2>&1
}

for round in $(seq 1 "$ROUNDS"); do
  one init "$round"
  one seed "$round"
done
echo
python3 - "$out" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if line.startswith("#"):
        continue
    kind = line.split()[0]
    f = dict(re.findall(r"(\w+)=([^ ]+)", line))
    rows.setdefault(kind, []).append(f)
def med(kind, key):
    vals = [int(r[key]) for r in rows.get(kind, []) if r.get(key, "-") != "-"]
    return "%d ms" % statistics.median(vals) if vals else "-"
def sigkills(kind):
    return sum(int(r["sigkills"]) for r in rows.get(kind, []))
print("| median of %d rounds | pulp-init | seed-style (run.sh + runuser) |" % len(rows.get("init", [])))
print("|---|---|---|")
print("| compose up -> every role's process up | %s | %s |" % (med("init", "up_ms"), med("seed", "up_ms")))
print("| compose up -> every container healthy | %s | (no health check) |" % med("init", "healthy_ms"))
print("| compose stop, whole stack | %s | %s |" % (med("init", "stack_stop_ms"), med("seed", "stack_stop_ms")))
for role in ["beat", "resource_manager", "worker1", "worker2", "apache"]:
    def per(kind):
        vals = [r[role] for r in rows.get(kind, [])]
        ms = [int(re.search(r"stopped_ms:(-?\d+)", v).group(1)) for v in vals]
        codes = sorted({re.search(r"exit:(\d+)", v).group(1) for v in vals})
        return "%d ms, exit %s" % (statistics.median(ms), "/".join(codes)) if ms else "-"
    print("| %s: stop to exit | %s | %s |" % (role, per("init"), per("seed")))
print("| SIGKILLs, all rounds | %d | %d |" % (sigkills("init"), sigkills("seed")))
PY
if ((${#failures[@]})); then
  echo >&2
  printf 'FAILED: %s\n' "${failures[@]}" >&2
  exit 1
fi
