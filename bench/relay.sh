#!/usr/bin/env bash
# The /dev/log relay (issue 11), in one run:
#   1. throughput: N datagrams from W writers through pulp-init's relay into a file,
#      next to socat (UNIX-RECV -> file) relaying the same load;
#   2. RSS of PID 1 supervising `sleep`: pulp-init with the relay idle, after the
#      flood, with PULP_INIT_SYSLOG=off, and tini-static.
# Each relay runs in a private PID + mount namespace with its own /dev (a tmpfs).
# Needs root, util-linux unshare, python3, socat, tini-static (Debian: tini).
# Knobs: PULP_INIT_BIN (default: the static release build, built if missing),
#        N (100000), W (4), SIZE (bytes per message, 120), BENCH_OUT (bench/results/relay)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
N=${N:-100000}
W=${W:-4}
SIZE=${SIZE:-120}
out=${BENCH_OUT:-$here/results/relay}
mkdir -p "$out"
die() { echo "relay.sh: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "needs root (unshare --mount)"
for c in unshare socat python3 tini-static; do command -v $c >/dev/null || die "$c not found"; done
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

echo "# relay throughput: $N messages of $SIZE bytes from $W writers" | tee "$out/summary.md"
printf '| relay | messages | seconds | messages/s | lines written |\n|---|---|---|---|---|\n' | tee -a "$out/summary.md"
for relay in pulp-init socat; do
  read -r n secs sent got < <(throughput "$relay")
  rate=$(awk -v n="$n" -v s="$secs" 'BEGIN{printf "%.0f", n/s}')
  echo "| $relay | $n | $secs | $rate | $got |" | tee -a "$out/summary.md"
done

# RSS of PID 1 (host view) while it supervises sleep.
rss_of() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
pid1_of() { # the first child of the unshare process
  local p=$1 k
  for _ in $(seq 1000); do
    k=$(cat "/proc/$p/task/$p/children" 2>/dev/null | awk '{print $1}')
    [[ -n $k ]] && { echo "$k"; return; }
    sleep 0.005
  done
  die "no PID 1 under $p"
}
measure_rss() { # name, flood (yes/no), env..., -- argv
  local name=$1 flood=$2; shift 2
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  env "${envs[@]}" unshare --mount --pid --fork --mount-proc --kill-child \
    sh -c 'd=$(mktemp -d) && mount -t tmpfs -o mode=755 devtmp "$d" && touch "$d/null" &&
           mount --bind /dev/null "$d/null" && mount --move "$d" /dev && exec "$@"' sh "$@" \
    >/dev/null 2>"$out/rss-$name.err" &
  local u=$!
  local p; p=$(pid1_of $u)
  # Wait until PID 1 runs its child (sleep), then until its RSS settles.
  for _ in $(seq 1000); do [[ -n $(cat "/proc/$p/task/$p/children" 2>/dev/null) ]] && break; sleep 0.005; done
  if [[ $flood == yes ]]; then
    nsenter -t "$p" -m python3 "$out/writer.py" 10000 4 "$SIZE"
    # Until the relay has written them all.
    for _ in $(seq 6000); do
      (( $(grep -c '^user.info bench' "$out/rss-$name.err" || true) >= 10000 )) && break
      sleep 0.005
    done
  fi
  # PID 1 releases its start-up pages after the spawn, and the relay the pages a burst
  # touched once the socket is quiet for 250 ms: sample until RSS is stable (25 equal
  # readings 20 ms apart, i.e. half a second).
  local r prev="" same=0
  for _ in $(seq 500); do
    r=$(rss_of "$p")
    if [[ $r == "$prev" ]]; then same=$((same + 1)); else same=0; fi
    (( same >= 24 )) && break
    prev=$r
    sleep 0.02
  done
  kill -KILL "$p" 2>/dev/null || true
  wait $u 2>/dev/null || true
  echo "| $name | $r |" | tee -a "$out/summary.md"
}
printf '\n# PID-1 RSS supervising `sleep 1000` (kB, VmRSS)\n| init | RSS kB |\n|---|---|\n' | tee -a "$out/summary.md"
measure_rss "pulp-init, relay idle" no -- "$bin" -- sleep 1000
measure_rss "pulp-init, relay after 10000 messages" yes -- "$bin" -- sleep 1000
measure_rss "pulp-init, PULP_INIT_SYSLOG=off" no PULP_INIT_SYSLOG=off -- "$bin" -- sleep 1000
measure_rss "tini-static" no -- "$(command -v tini-static)" -- sleep 1000
echo "results: $out/summary.md"
