#!/usr/bin/env bash
# Builds a real Pulp 2.21.5 test image from the source trees a user names (Pulp 2 is on no
# package registry; its source is public, and never part of this repository):
#   scripts/realpulp-image.sh PULP_SRC GOFER_SRC NECTAR_SRC
#   (or PULP_INIT_REALPULP_PULP, PULP_INIT_REALPULP_GOFER, PULP_INIT_REALPULP_NECTAR)
#     PULP_SRC    pulp/pulp at tag 2.21.5
#     GOFER_SRC   jortel/gofer at tag gofer-2.12.5-1
#     NECTAR_SRC  pulp/nectar at tag python-nectar-1.6.4-1
# Needs: the test base and the static binary (scripts/build-static.sh, scripts/images.sh), and
# Python 2.7.18 (PULP_INIT_PYTHON27, default pyenv's /root/.pyenv/versions/2.7.18), copied
# into the image. Prints one line, the tag: pulp-init-test/realpulp:<hash of the recipe, the
# trees, the interpreter and the binary>; an image with that tag is reused as it is.
# PULP_INIT_REALPULP_VERSION_EXTRA, when set, is appended to /etc/pulp-init/version (and so
# to the hash): a "new image" of the same Pulp, as an upgrade makes one.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "realpulp-image.sh: $*" >&2; }
die() { log "$*"; exit 1; }

pulp=${1:-${PULP_INIT_REALPULP_PULP:-}}
gofer=${2:-${PULP_INIT_REALPULP_GOFER:-}}
nectar=${3:-${PULP_INIT_REALPULP_NECTAR:-}}
[[ -n "$pulp" && -n "$gofer" && -n "$nectar" ]] || {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
py=${PULP_INIT_PYTHON27:-/root/.pyenv/versions/2.7.18}
bin=target/x86_64-unknown-linux-musl/release/pulp-init

[[ -f "$pulp/server/setup.py" && -f "$pulp/common/setup.py" ]] || die "$pulp: not a pulp/pulp tree (no server/setup.py)"
[[ -f "$gofer/src/setup.py" && -d "$gofer/bin" ]] || die "$gofer: not a jortel/gofer tree (no src/setup.py)"
[[ -f "$nectar/setup.py" && -d "$nectar/nectar" ]] || die "$nectar: not a pulp/nectar tree (no nectar/)"
[[ -x "$py/bin/python2.7" ]] || die "$py/bin/python2.7 missing: set PULP_INIT_PYTHON27 to a Python 2.7.18 prefix"
[[ -x "$bin" ]] || die "$bin missing: run scripts/build-static.sh first"
docker info >/dev/null 2>&1 || { log "no Docker engine answers (docker info failed)"; exit 69; }

shopt -s nullglob
cas=(/usr/local/share/ca-certificates/*.crt)
base=pulp-init-test/base:$(cat images/test/base.sh "${cas[@]}" | sha256sum | cut -c1-12)
docker image inspect "$base" >/dev/null 2>&1 || die "base image $base missing: run scripts/images.sh first"

# What goes into each tree's part of the image, and its identity: the commit when the tree is
# a clean git checkout, else a hash of its files.
pulp_parts=(common server repoauth oid_validation)
tree_id() { # DIR [PART...]
  local dir=$1; shift
  if git -C "$dir" rev-parse --show-toplevel >/dev/null 2>&1 \
     && [[ "$(git -C "$dir" rev-parse --show-toplevel)" == "$(cd "$dir" && pwd -P)" ]] \
     && [[ -z "$(git -C "$dir" status --porcelain -- "$@" 2>/dev/null)" ]]; then
    echo "commit $(git -C "$dir" rev-parse HEAD)"
  else
    echo "files $( (cd "$dir" && find "${@:-.}" -type f ! -path '*/.git/*' -print0 | LC_ALL=C sort -z \
      | xargs -0 sha256sum) | sha256sum | cut -c1-16)"
  fi
}
pulp_id=$(tree_id "$pulp" "${pulp_parts[@]}")
gofer_id=$(tree_id "$gofer" src bin)
nectar_id=$(tree_id "$nectar" setup.py nectar)
recipe=$(cat "$0" images/realpulp/* | sha256sum | cut -c1-16)
python_id=$(sha256sum "$py/bin/python2.7" "$py/lib/libpython2.7.so.1.0" | sha256sum | cut -c1-16)
binary_id=$(sha256sum "$bin" | cut -c1-16)
version="pulp 2.21.5 ($pulp_id), gofer ($gofer_id), nectar ($nectar_id), recipe $recipe${PULP_INIT_REALPULP_VERSION_EXTRA:+, $PULP_INIT_REALPULP_VERSION_EXTRA}"
hash=$(printf '%s\n' "$base" "$version" "$python_id" "$binary_id" | sha256sum | cut -c1-12)
tag=pulp-init-test/realpulp:$hash
if docker image inspect "$tag" >/dev/null 2>&1; then
  log "$tag: cached"
  echo "$tag"
  exit 0
fi

ctx=$(mktemp -d "${TMPDIR:-/tmp}/realpulp-ctx.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/src/pulp" "$ctx/src/gofer" "$ctx/python"
# The interpreter without its own test suite and compiled files (60 of its 111 MB).
tar -C "$py" --exclude=./lib/python2.7/test --exclude='*.pyc' --exclude='*.pyo' -c . | tar -C "$ctx/python" -x
for part in "${pulp_parts[@]}"; do cp -a "$pulp/$part" "$ctx/src/pulp/"; done
cp -a "$gofer/src" "$gofer/bin" "$ctx/src/gofer/"
cp -a "$nectar" "$ctx/src/nectar"
rm -rf "$ctx/src/nectar/.git"
cp -a images/realpulp "$ctx/files"
cp "$bin" "$ctx/pulp-init"

log "building $tag ($version)"
t0=$SECONDS
# Every layer is cached by docker: a new binary rebuilds the last layers only, a new tree
# the layers from the trees' copy on; the pinned dependencies stay.
out=${TMPDIR:-/tmp}/realpulp-image-$hash.log
# --force-rm: a failed step's container is removed too (the classic builder keeps it).
if ! docker build --force-rm --build-arg "BASE=$base" --build-arg "VERSION=$version" \
    -f "$ctx/files/Containerfile" -t "$tag" "$ctx" >"$out" 2>&1; then
  tail -n 40 "$out" >&2; die "building $tag failed (the whole output: $out)"
fi
rm -f "$out"
log "$tag ready in $((SECONDS - t0)) s"
echo "$tag"
