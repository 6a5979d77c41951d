#!/usr/bin/env bash
# The /dev/log relay (issue 11), in one run:
#   1. throughput: N datagrams from W writers through pulp-init's relay into a file,
#      next to socat (UNIX-RECV -> file) relaying the same load;
#   2. RSS of PID 1 supervising `sleep`: pulp-init with the relay idle, after a flood of
#      FLOOD messages, with PULP_INIT_SYSLOG=off, next to tini-static (the reference of
#      the ratios), tini, dumb-init and catatonit; goal (issue 16): <= 1.25x idle and after
#      the flood. `bench/relay.sh rss` runs only this part.
# Each relay runs in a private PID + mount namespace with its own /dev (a tmpfs).
# Needs root, util-linux unshare/nsenter, python3, socat, tini-static (Debian: tini);
# dumb-init and catatonit are measured when installed.
# Knobs: PULP_INIT_BIN (default: the static release build, built if missing),
#        N (100000), W (4), SIZE (bytes per message, 120), FLOOD (10000), RSS_REPS (3),
#        BENCH_OUT (bench/results/relay)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
N=${N:-100000}
W=${W:-4}
SIZE=${SIZE:-120}
FLOOD=${FLOOD:-10000}
RSS_REPS=${RSS_REPS:-3}
part=${1:-all}
[[ $part == all || $part == rss ]] || { echo "usage: relay.sh [rss]" >&2; exit 64; }
out=${BENCH_OUT:-$here/results/relay}
mkdir -p "$out"
die() { echo "relay.sh: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "needs root (unshare --mount)"
need=(unshare nsenter python3 tini-static)
[[ $part == all ]] && need+=(socat)
for c in "${need[@]}"; do command -v $c >/dev/null || die "$c not found"; done
bin=${PULP_INIT_BIN:-$root/target/x86_64-unknown-linux-musl/release/pulp-init}
if [[ -z ${PULP_INIT_BIN:-} && ! -x $bin ]]; then "$root/scripts/build-static.sh" >&2; fi
[[ -x $bin ]] || die "no pulp-init at $bin"

# W processes, N/W blocking sends each of SIZE-byte newline-ended RFC 3164 messages.
cat > "$out/writer.py" <<'PY'
import os, socket, sys
n, w, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
pids = []
for k in range(w):
    pid = os.fork()
    if pid == 0:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.connect('/dev/log')
        for i in range(n // w):
            head = b'<14>bench[%d]: %d ' % (k, i)
            s.send(head + b'x' * (size - len(head) - 1) + b'\n')
        os._exit(0)
    pids.append(pid)
for p in pids:
    os.waitpid(p, 0)
PY

# Inside the namespace: a fresh /dev, the relay in the background, wait for the socket,
# time the writers until the output file holds N lines.
cat > "$out/inner.sh" <<'SH'
set -eu
relay=$1 file=$2 n=$3 w=$4 size=$5 writer=$6
d=$(mktemp -d)
mount -t tmpfs -o mode=755 devtmp "$d"
for f in null zero urandom; do touch "$d/$f"; mount --bind "/dev/$f" "$d/$f"; done
mount --move "$d" /dev
case $relay in
  pulp-init) PULP_INIT_LOG=warn "$PULP_INIT_BIN" --mode supervise -- sleep 1000 2>"$file" & ;;
  socat) socat -u UNIX-RECV:/dev/log,mode=666 CREATE:"$file" & ;;
esac
rp=$!
python3 - "$file" "$n" "$w" "$size" "$writer" <<'PY'
import os, subprocess, sys, time
file, n, w, size, writer = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
deadline = time.monotonic() + 30
while not os.path.exists('/dev/log'):
    assert time.monotonic() < deadline, 'no /dev/log'
    time.sleep(0.001)
t0 = time.monotonic()
subprocess.run([sys.executable, writer, str(n), w, size], check=True)
t_sent = time.monotonic()
def lines():
    with open(file, 'rb') as f:
        return f.read().count(b'\n')
deadline = time.monotonic() + 120
while (got := lines()) < n:
    assert time.monotonic() < deadline, f'only {got} of {n} lines'
    time.sleep(0.002)
t1 = time.monotonic()
print(f'{n} {t1 - t0:.3f} {t_sent - t0:.3f} {got}')
PY
kill $rp
wait $rp 2>/dev/null || true
SH

throughput() {
  local relay=$1 file="$out/$1.out"
  rm -f "$file"
  PULP_INIT_BIN=$bin unshare --mount --pid --fork --mount-proc \
    sh "$out/inner.sh" "$relay" "$file" "$N" "$W" "$SIZE" "$out/writer.py"
}

: >"$out/summary.md"
if [[ $part == all ]]; then
  echo "# relay throughput: $N messages of $SIZE bytes from $W writers" | tee -a "$out/summary.md"
  printf '| relay | messages | seconds | messages/s | lines written |\n|---|---|---|---|---|\n' | tee -a "$out/summary.md"
  for relay in pulp-init socat; do
    read -r n secs sent got < <(throughput "$relay")
    rate=$(awk -v n="$n" -v s="$secs" 'BEGIN{printf "%.0f", n/s}')
    echo "| $relay | $n | $secs | $rate | $got |" | tee -a "$out/summary.md"
  done
fi

# RSS of PID 1 (host view) while it supervises sleep, next to the Debian inits.
rss_of() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
rollup() { awk '/^(Pss|Anonymous|Pss_File):/{v[$1]=$2} END{printf "%s %s %s", v["Pss:"], v["Anonymous:"], v["Pss_File:"]}' "/proc/$1/smaps_rollup"; }
pid1_of() { # the first child of the unshare process
  local p=$1 k
  for _ in $(seq 1000); do
    k=$(cat "/proc/$p/task/$p/children" 2>/dev/null | awk '{print $1}')
    [[ -n $k ]] && { echo "$k"; return; }
    sleep 0.005
  done
  die "no PID 1 under $p"
}
rss_once() { # flood (yes/no), env..., -- argv: prints "VmRSS Pss Anonymous Pss_File" (kB)
  local flood=$1; shift
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  local err="$out/rss.err"
  : >"$err"
  # Every init gets the same private /dev (a tmpfs with null): no /dev/log, as in a container.
  env "${envs[@]}" unshare --mount --pid --fork --mount-proc --kill-child \
    sh -c 'd=$(mktemp -d) && mount -t tmpfs -o mode=755 devtmp "$d" && touch "$d/null" &&
           mount --bind /dev/null "$d/null" && mount --move "$d" /dev && exec "$@"' sh "$@" \
    >/dev/null 2>"$err" &
  local u=$!
  local p; p=$(pid1_of $u)
  # Wait until PID 1 runs its child (sleep), then until its RSS settles.
  for _ in $(seq 1000); do
    [[ $(cat "/proc/$p/task/$p/children" 2>/dev/null) =~ [0-9] ]] &&
      [[ $(cat "/proc/$(awk '{print $1}' "/proc/$p/task/$p/children")/comm" 2>/dev/null) == sleep ]] && break
    sleep 0.005
  done
  if [[ $flood == yes ]]; then
    nsenter -t "$p" -m python3 "$out/writer.py" "$FLOOD" 4 "$SIZE"
    # Until the relay has written them all.
    for _ in $(seq 6000); do
      (( $(grep -c '^user.info bench' "$err" || true) >= FLOOD )) && break
      sleep 0.005
    done
    (( $(grep -c '^user.info bench' "$err" || true) >= FLOOD )) || die "the relay wrote fewer than $FLOOD lines"
  fi
  # PID 1 releases its start-up pages after the spawn, and the relay what a burst left
  # resident once the socket is quiet for 250 ms: sample until RSS is stable (25 equal
  # readings 20 ms apart, i.e. half a second).
  local r prev="" same=0 m
  for _ in $(seq 500); do
    r=$(rss_of "$p")
    if [[ $r == "$prev" ]]; then same=$((same + 1)); else same=0; fi
    (( same >= 24 )) && break
    prev=$r
    sleep 0.02
  done
  m=$(rollup "$p")
  [[ -n ${RSS_SMAPS:-} ]] && cp "/proc/$p/smaps" "$out/smaps-$RSS_SMAPS"
  kill -KILL "$p" 2>/dev/null || true
  wait $u 2>/dev/null || true
  echo "$r $m"
}
median() { sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
declare -A RSS
measure_rss() { # name, flood (yes/no), env..., -- argv: median of RSS_REPS
  local name=$1; shift
  local runs=() k col
  for ((k = 0; k < RSS_REPS; k++)); do runs+=("$(RSS_SMAPS=$(tr -c "a-zA-Z0-9\n" _ <<<"$name") rss_once "$@")"); done
  for col in 1 2 3 4; do
    RSS[$name,$col]=$(printf '%s\n' "${runs[@]}" | awk -v c=$col '{print $c}' | median)
  done
}
rss_row() {
  local name=$1 ref=${RSS[tini-static,1]}
  local x; x=$(awk -v a="${RSS[$name,1]}" -v b="$ref" 'BEGIN{printf "%.2f", a/b}')
  echo "| $name | ${RSS[$name,1]} | **$x×** | ${RSS[$name,2]} | ${RSS[$name,3]} | ${RSS[$name,4]} |" | tee -a "$out/summary.md"
}
names=()
anchor() { command -v "$1" >/dev/null && { names+=("$1"); measure_rss "$1" no -- "$(command -v "$1")" "${@:2}" sleep 1000; }; }
anchor tini-static --
[[ -n ${RSS[tini-static,1]:-} ]] || die "tini-static not measured"
anchor tini --
anchor dumb-init
anchor catatonit --
idle="pulp-init, relay idle" flooded="pulp-init, relay after $FLOOD messages" off="pulp-init, PULP_INIT_SYSLOG=off"
measure_rss "$idle" no -- "$bin" -- sleep 1000
measure_rss "$flooded" yes -- "$bin" -- sleep 1000
measure_rss "$off" no PULP_INIT_SYSLOG=off -- "$bin" -- sleep 1000
{
  printf '\n# PID-1 RSS supervising `sleep 1000`, private /dev, stable for 0.5 s, median of %s (kB)\n' "$RSS_REPS"
  printf '| init | VmRSS | × tini-static | Pss | Anonymous | Pss_File |\n|---|---|---|---|---|---|\n'
} | tee -a "$out/summary.md"
for n in "${names[@]}" "$idle" "$flooded" "$off"; do rss_row "$n"; done
goal=$(awk -v i="${RSS[$idle,1]}" -v f="${RSS[$flooded,1]}" -v r="${RSS[tini-static,1]}" \
  'BEGIN{a=i/r; b=f/r; printf "idle %.2f×, after the flood %.2f× tini-static: %s", a, b, (a<=1.25 && b<=1.25) ? "MET" : "MISSED"}')
echo "
goal (issue 16) PID-1 RSS ≤ 1.25× tini-static idle and after a flood: $goal" | tee -a "$out/summary.md"
echo "results: $out/summary.md (smaps of the last run of each: $out/smaps-*)"
