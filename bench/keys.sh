#!/usr/bin/env bash
# Key generation (issue 17): pulp-init's pure-Rust RSA (RustCrypto rsa 0.10) next to openssl.
#   1. one key: RSA 4096 and RSA 2048, `openssl genrsa` against pulp-init's own timing of
#      each key in `keys --out` (its debug lines "RSA N key generated in Xs"; the three keys
#      of a set are made on three threads, so on a loaded 2-core VM they share the cores);
#   2. the whole set: `pulp-init keys --out DIR` (CA 4096 + rsa 2048 + TLS 2048, certificates,
#      six fsynced files) against the same set made with openssl commands as
#      pulp-gen-ca-certificate and pulp-gen-key-pair make it, one after the other.
# RSA key generation time is random (prime search): RUNS runs each, medians and ratios.
# Knobs: PULP_INIT_BIN (default: the static release build, built if missing), RUNS (9),
#        BENCH_OUT (bench/results/keys)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
RUNS=${RUNS:-9}
out=${BENCH_OUT:-$here/results/keys}
mkdir -p "$out"
die() { echo "keys.sh: $*" >&2; exit 1; }
for c in openssl python3; do command -v $c >/dev/null || die "$c not found"; done
bin=${PULP_INIT_BIN:-$root/target/x86_64-unknown-linux-musl/release/pulp-init}
if [[ -z ${PULP_INIT_BIN:-} && ! -x $bin ]]; then "$root/scripts/build-static.sh" >&2; fi
[[ -x $bin ]] || die "no pulp-init at $bin"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }

# pulp-gen-ca-certificate + pulp-gen-key-pair + a TLS pair signed by the CA, with openssl.
openssl_set() {
  local d=$1
  mkdir -p "$d"
  (
    cd "$d"
    umask 027
    openssl genrsa -out ca.key 4096 2>/dev/null
    openssl req -new -key ca.key -out ca.req -subj "/CN=bench.example.com/O=PULP" 2>/dev/null
    openssl x509 -req -days 7035 -sha256 -signkey ca.key -in ca.req -out ca.crt 2>/dev/null
    openssl genrsa -out rsa.key 2048 2>/dev/null
    openssl rsa -in rsa.key -pubout -out rsa_pub.key 2>/dev/null
    openssl genrsa -out tls.key 2048 2>/dev/null
    openssl req -new -key tls.key -out tls.req -subj "/CN=pulp.example.com" 2>/dev/null
    printf 'subjectAltName=DNS:pulp.example.com,DNS:localhost\n' > san.ext
    openssl x509 -req -days 3650 -sha256 -in tls.req -CA ca.crt -CAkey ca.key \
      -CAcreateserial -extfile san.ext -out tls.crt 2>/dev/null
    sync -f ca.key
    rm -f ca.req tls.req san.ext ca.srl
  )
}

: > "$out/raw.tsv"
for i in $(seq "$RUNS"); do
  for bits in 4096 2048; do
    t0=$(now); openssl genrsa -out "$work/g$bits.key" "$bits" 2>/dev/null; t1=$(now)
    echo -e "openssl genrsa $bits\t$(echo "$t1 - $t0" | bc)" >> "$out/raw.tsv"
  done
  t0=$(now); openssl_set "$work/o$i"; t1=$(now)
  echo -e "openssl set\t$(echo "$t1 - $t0" | bc)" >> "$out/raw.tsv"
  t0=$(now)
  PULP_INIT_LOG=debug "$bin" keys --out "$work/p$i" --fqdn bench.example.com \
    --server-name pulp.example.com 2> "$work/p$i.log"
  t1=$(now)
  echo -e "pulp-init set\t$(echo "$t1 - $t0" | bc)" >> "$out/raw.tsv"
  # The CA's line comes from the 4096 key; the two 2048 lines are the rsa and TLS keys.
  sed -n 's/.*RSA \([0-9]*\) key generated in \([0-9.]*\)s.*/pulp-init rsa \1\t\2/p' \
    "$work/p$i.log" >> "$out/raw.tsv"
  openssl verify -CAfile "$work/p$i/ca.crt" "$work/p$i/tls.crt" >/dev/null \
    || die "run $i: tls.crt does not verify"
done

python3 - "$out/raw.tsv" "$bin" <<'PY' | tee "$out/summary.txt"
import os, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, secs = line.rstrip('\n').split('\t')
    rows.setdefault(name, []).append(float(secs))
med = {k: statistics.median(v) for k, v in rows.items()}
def show(name):
    v = sorted(rows[name])
    return f"{name:22} n={len(v):2}  median {med[name]:7.3f}s  min {v[0]:7.3f}s  max {v[-1]:7.3f}s"
for pair in [("openssl genrsa 4096", "pulp-init rsa 4096"),
             ("openssl genrsa 2048", "pulp-init rsa 2048"),
             ("openssl set", "pulp-init set")]:
    for name in pair:
        print(show(name))
    print(f"{'':22} ratio pulp-init/openssl (medians): {med[pair[1]] / med[pair[0]]:.2f}")
size = os.stat(sys.argv[2]).st_size
print(f"binary {sys.argv[2]}: {size} bytes ({size / 1048576:.2f} MiB)")
PY
