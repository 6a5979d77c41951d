#!/usr/bin/env bash
# Builds the Docker test images from a debootstrapped Debian base; nothing is pulled.
# Usage: scripts/images.sh [--if-engine]
#   --if-engine: exit 0 with one line when no Docker engine answers (scripts/test.sh uses it)
# Needs the static binary first (scripts/build-static.sh). Prints the tags, one per line:
#   pulp-init-test/base:<hash>  the base: images/test/base.sh (debootstrap + docker import);
#                               rebuilt only when that recipe (or a host CA it copies)
#                               changes: the tag is their hash
#   pulp-init-test/db:latest    SecantusDB                  (images/test/db.Containerfile)
#   pulp-init-test/msg:latest   RabbitMQ                    (images/test/msg.Containerfile)
#   pulp-init-test/role:latest  pulp-init + the stand-ins   (images/test/role.Containerfile)
#   pulp-init-test/seed:latest  the original shell entrypoint + the same stand-ins
# docker build caches every layer: with nothing changed this takes a few seconds, and a new
# pulp-init binary only rebuilds the role image's last layer.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "images.sh: $*" >&2; }

if ! docker info >/dev/null 2>&1; then
  if [[ "${1:-}" == --if-engine ]]; then log "no Docker engine answers: test images not built"; exit 0; fi
  log "no Docker engine answers (docker info failed)"; exit 69
fi

# The recipe and the host CAs it copies in (see images/test/base.sh).
shopt -s nullglob
cas=(/usr/local/share/ca-certificates/*.crt)
hash=$(cat images/test/base.sh "${cas[@]}" | sha256sum | cut -c1-12)
base=pulp-init-test/base:$hash
if docker image inspect "$base" >/dev/null 2>&1; then
  log "base $base: cached"
else
  command -v debootstrap >/dev/null || { log "debootstrap missing: run scripts/install-deps.sh"; exit 1; }
  log "building base $base (debootstrap, a few minutes)"
  t0=$SECONDS
  images/test/base.sh "$base"
  log "base built in $((SECONDS - t0)) s"
fi
# Older bases (their recipe changed) are not needed any more.
docker image ls --format '{{.Repository}}:{{.Tag}}' pulp-init-test/base \
  | { grep -vxF "$base" || true; } | while read -r old; do docker image rm "$old" >/dev/null || true; done

build() { # NAME CONTAINERFILE [TARGET]
  local name=$1 file=$2 target=${3:-} args=() t0=$SECONDS old new
  [[ -n "$target" ]] && args=(--target "$target")
  old=$(docker image inspect -f '{{.Id}}' "pulp-init-test/$name:latest" 2>/dev/null || true)
  # The layers' apt and pip reach Debian and PyPI through the default bridge network.
  # --force-rm: a failed step's container is removed too (the classic builder keeps it).
  if ! docker build -q --force-rm --build-arg "BASE=$base" -f "$file" "${args[@]}" -t "pulp-init-test/$name:latest" . >/dev/null 2>"$tmp/err"; then
    cat "$tmp/err" >&2; log "building pulp-init-test/$name failed"; exit 1
  fi
  new=$(docker image inspect -f '{{.Id}}' "pulp-init-test/$name:latest")
  # The image this tag named before (e.g. with the previous binary) is not needed any more.
  if [[ -n "$old" && "$old" != "$new" ]]; then docker image rm "$old" >/dev/null 2>&1 || true; fi
  log "pulp-init-test/$name:latest ready in $((SECONDS - t0)) s"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build db images/test/db.Containerfile
build msg images/test/msg.Containerfile
build seed images/test/role.Containerfile seed
bin=target/x86_64-unknown-linux-musl/release/pulp-init
[[ -x "$bin" ]] || { log "$bin missing: run scripts/build-static.sh first"; exit 1; }
build role images/test/role.Containerfile role
echo "$base"
for name in db msg role seed; do echo "pulp-init-test/$name:latest"; done
