#!/usr/bin/env bash
# Compare pulp-init's supervisor with tini(-static), dumb-init and catatonit:
#   1. start-up overhead (hyperfine, INIT -- /bin/true), outside and as PID 1
#   2. RSS / Pss of the init while it supervises `sleep 1000`, as PID 1; then (2b,
#      bench/relay.sh rss) idle and after a /dev/log flood, as ratios to tini-static
#   3. time to reap 2000 orphans, as PID 1 (plus negative controls)
#   4. SIGUSR1 forwarding latency init -> child (vs a direct kill)
# See bench/README.md ("init.sh"). Needs root (unshare --pid), hyperfine, python3.
#
# Knobs: PULP_INIT_BIN, RUNS (200, split in ROUNDS=5 hyperfine runs), WARMUP (5), RSS_REPS (3), REAP_N (2000),
#        REAP_REPS (3), REAP_DEADLINE (5 s), SIG_TRIALS (100), SIG_ROUNDS (4),
#        SECTIONS ("startup pid1 rss reap siglat"), BENCH_OUT (bench/results/init)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
helpers=$here/init
out=${BENCH_OUT:-$here/results/init}
RUNS=${RUNS:-200}
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-5}
RSS_REPS=${RSS_REPS:-3}
REAP_N=${REAP_N:-2000}
REAP_REPS=${REAP_REPS:-3}
REAP_DEADLINE=${REAP_DEADLINE:-5}
SIG_TRIALS=${SIG_TRIALS:-100}
SIG_ROUNDS=${SIG_ROUNDS:-4}
SECTIONS=${SECTIONS:-startup pid1 rss reap siglat}
export CHILD_PYTHON=${CHILD_PYTHON:-/usr/bin/python3}
DRIVER_PYTHON=${DRIVER_PYTHON:-python3}
mkdir -p "$out"
rm -f "$out"/startup*.round*.json "$out"/startup*.log "$out"/{startup,startup-pid1,rss,reap,siglat}.json "$out"/summary.md "$out"/meta.txt

die() { echo "init.sh: $*" >&2; exit 1; }
want() { [[ " $SECTIONS " == *" $1 "* ]]; }
[[ $(id -u) == 0 ]] || die "needs root (unshare --pid --mount-proc)"
command -v hyperfine >/dev/null || die "hyperfine not found"
[[ -x $CHILD_PYTHON ]] || die "CHILD_PYTHON=$CHILD_PYTHON not executable"

# ---------------------------------------------------------------- binaries
if [[ -z ${PULP_INIT_BIN:-} ]]; then
    gnu=$root/target/release/pulp-init
    musl=$root/target/x86_64-unknown-linux-musl/release/pulp-init
    PULP_INIT_BIN=$gnu
    # the static build is what ships: prefer it unless the glibc one is newer
    if [[ -x $musl && ( ! -x $gnu || $musl -nt $gnu ) ]]; then PULP_INIT_BIN=$musl; fi
fi
PI=$PULP_INIT_BIN
[[ -x $PI ]] || die "pulp-init not found at $PI (set PULP_INIT_BIN; this script does not build)"

# names and argv prefixes (everything before the child command)
names=() ; declare -A pre        # outside PID 1
declare -A pre1                  # as PID 1 (inside unshare)
add() { names+=("$1"); pre[$1]=$2; pre1[$1]=${3:-$2}; }
if [[ -x /usr/bin/tini-static ]]; then add tini-static "/usr/bin/tini-static --"; ref=tini-static; fi
if command -v tini >/dev/null; then add tini "$(command -v tini) --"; ref=${ref:-tini}; fi
[[ -n ${ref:-} ]] || die "no tini"
add dumb-init "$(command -v dumb-init)"
add catatonit "$(command -v catatonit) --"

# does this pulp-init have a supervisor yet?
pi_msg=$("$PI" --mode supervise -- /bin/true 2>&1) && pi_rc=0 || pi_rc=$?
if [[ $pi_rc == 0 && $pi_msg != *"unexpected argument"* ]]; then
    pi_sup=1; pi_name=pulp-init
    # outside PID 1: --mode supervise; as PID 1: the default (auto), as shipped
    add "$pi_name" "$PI --mode supervise --" "$PI --"
else
    pi_sup=0; pi_name="pulp-init[exec]"
    echo "WARNING: '$PI --mode supervise -- /bin/true' fails (rc $pi_rc: ${pi_msg%%$'\n'*})" >&2
    echo "WARNING: this pulp-init has no supervise mode; measuring 'pulp-init -- CMD' (it just execs)" >&2
    add "$pi_name" "$PI --"
fi

pi_sha=$(sha256sum "$PI" | cut -c1-12)
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "host: $(nproc) cores, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "pulp-init: $PI (mtime $(date -u -r "$PI" '+%F %T UTC'), sha256 $pi_sha, supervise mode: $([[ $pi_sup == 1 ]] && echo yes || echo NO))"
    echo "tini: $(tini --version 2>&1)  dumb-init: $(dumb-init --version 2>&1)  catatonit: $(catatonit --version 2>&1)"
    echo "hyperfine: $(hyperfine --version)  python (children): $($CHILD_PYTHON -V 2>&1)"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/meta.txt"
echo

# ---------------------------------------------------------- 1. start-up
hf() {  # hf JSON NAME CMD NAME CMD ...: ROUNDS interleaved hyperfine runs, merged
    local json=$1; shift
    local args=() r per=$(( (RUNS + ROUNDS - 1) / ROUNDS )) parts=()
    while (($#)); do args+=(-n "$1" "$2"); shift 2; done
    for ((r = 1; r <= ROUNDS; r++)); do
        hyperfine -N --warmup "$WARMUP" --runs "$per" --style none \
            --export-json "${json%.json}.round$r.json" "${args[@]}" >>"${json%.json}.log" 2>&1 \
            || { tail "${json%.json}.log" >&2; die "hyperfine failed"; }
        parts+=("${json%.json}.round$r.json")
    done
    $DRIVER_PYTHON "$helpers/bench.py" merge --out "$json" "${parts[@]}"
}
if want startup; then
    echo "== 1a. start-up: INIT -- /bin/true (not PID 1), hyperfine -N, $RUNS runs in $ROUNDS rounds"
    cmds=(true /bin/true)
    for n in "${names[@]}"; do cmds+=("$n" "${pre[$n]} /bin/true"); done
    hf "$out/startup.json" "${cmds[@]}"
    echo
fi
if want pid1; then
    echo "== 1b. start-up as PID 1: unshare --pid --fork --mount-proc INIT -- /bin/true"
    u="unshare --pid --fork --mount-proc"
    cmds=(true "$u /bin/true")
    for n in "${names[@]}"; do cmds+=("$n" "$u ${pre1[$n]} /bin/true"); done
    hf "$out/startup-pid1.json" "${cmds[@]}"
    echo
fi

initargs() {  # initargs pre|pre1 -> --init NAME=PREFIX ...
    local -n m=$1; local n
    for n in "${names[@]}"; do printf '%s\0' --init "$n=${m[$n]}"; done
}
mapfile -d '' pid1_inits < <(initargs pre1)
mapfile -d '' plain_inits < <(initargs pre)

# ------------------------------------------------------------- 2. RSS
if want rss; then
    echo "== 2. RSS of the init (PID 1) supervising 'sleep 1000' (median of $RSS_REPS)"
    $DRIVER_PYTHON "$helpers/bench.py" rss --reps "$RSS_REPS" --out "$out/rss.json" "${pid1_inits[@]}"
    echo
    # Issue 16: idle and after a /dev/log flood, each init with a private /dev, once RSS is
    # stable (relay.sh's RSS part; pulp-init there is the static build this script measures).
    if [[ $pi_sup == 1 ]]; then
        echo "== 2b. RSS idle and after a flood of the /dev/log relay (bench/relay.sh rss, median of $RSS_REPS)"
        PULP_INIT_BIN=$PI RSS_REPS=$RSS_REPS BENCH_OUT=$out/relay-rss "$here/relay.sh" rss \
            || die "relay.sh rss failed"
        echo
    fi
fi

# ------------------------------------------------------------ 3. reap
if want reap; then
    echo "== 3. reaping $REAP_N orphans as PID 1 (init SIGSTOPped while they exit; time from SIGCONT to 0 zombies)"
    $DRIVER_PYTHON "$helpers/bench.py" reap --n "$REAP_N" --reps "$REAP_REPS" --deadline "$REAP_DEADLINE" \
        --out "$out/reap.json" \
        --init "none (python is PID 1)=" \
        --init 'sh -c=["sh", "-c", "\"$@\"; exit $?", "sh"]' \
        "${pid1_inits[@]}"
    echo
fi

# ---------------------------------------------------------- 4. signals
if want siglat; then
    echo "== 4. SIGUSR1 latency: kill(INIT) -> child's sigwaitinfo returns (not PID 1; $SIG_TRIALS trials in $SIG_ROUNDS interleaved rounds)"
    $DRIVER_PYTHON "$helpers/bench.py" siglat --trials "$SIG_TRIALS" --rounds "$SIG_ROUNDS" \
        --out "$out/siglat.json" --init "baseline=" "${plain_inits[@]}"
    echo
fi

# ------------------------------------------------------------ summary
echo "== summary (medians; ratios vs $ref; load after: $(cut -d' ' -f1-3 /proc/loadavg))"
$DRIVER_PYTHON "$helpers/bench.py" table --ref "$ref" --n "$REAP_N" \
    --names true baseline "none (python is PID 1)" "sh -c" "${names[@]}" \
    --startup "$out/startup.json" --startup-pid1 "$out/startup-pid1.json" \
    --rss "$out/rss.json" --reap "$out/reap.json" --siglat "$out/siglat.json" \
    --md "$out/summary.md"

# goals (only meaningful with a real supervisor)
$DRIVER_PYTHON - "$out" "$ref" "$pi_name" <<'EOF'
import json, sys
out, ref, pi = sys.argv[1:]
def med(f, n):
    try:
        for r in json.load(open(f"{out}/{f}"))["results"]:
            if r["command"] == n:
                return r["median"]
    except (OSError, ValueError, KeyError):
        pass
try:
    rss = json.load(open(f"{out}/rss.json"))
except (OSError, ValueError):
    rss = {}
s, s0 = med("startup.json", pi), med("startup.json", ref)
m, m0 = (rss.get(pi) or {}).get("VmRSS_kB"), (rss.get(ref) or {}).get("VmRSS_kB")
print()
if s and s0:
    r = s / s0
    print(f"goal start-up  {pi} <= 1.5x {ref}: {r:.2f}x  {'OK' if r <= 1.5 else 'MISSED'}"
          + ("  (meaningless: this build only execs)" if pi.endswith("[exec]") else ""))
if m and m0:
    r = m / m0
    print(f"goal RSS       {pi} <= 2x   {ref}: {r:.2f}x  {'OK' if r <= 2 else 'MISSED'}")
elif pi in rss:
    print(f"goal RSS       {pi}: not measured ({rss[pi].get('error')})")
EOF
[[ -f $out/relay-rss/summary.md ]] && grep '^goal' "$out/relay-rss/summary.md"
echo "raw results: $out/"
