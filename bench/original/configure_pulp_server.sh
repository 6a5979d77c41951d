#!/bin/bash
#
# Baseline for bench/config.sh: a faithful re-creation of the
# configure_pulp_server.sh shipped in the original Pulp 2 docker images.
#
# It is deliberately NOT improved: four separate `augtool -s set` processes
# (each one loads every lens and re-parses the file), unquoted expansions,
# no validation (an unset SERVICE_HOST gives "seeds :27017"), no error
# handling. Only two things are added so it can run on this (Debian) host
# against a scratch copy instead of the live /etc:
#
#   AUG_LENS_DIR  directory holding pulp.aug (Debian's augeas-lenses has no
#                 lens for /etc/pulp/server.conf); default: bench/
#   AUG_ROOT      augeas root; the file edited is $AUG_ROOT/etc/pulp/server.conf
#                 default: / (i.e. the live file, as in the original image)
#
# The augeas paths are exactly the original ones.

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
AUG_LENS_DIR="${AUG_LENS_DIR:-${HERE}/..}"
AUG_ROOT="${AUG_ROOT:-/}"
augtool() { command augtool -I "$AUG_LENS_DIR" -r "$AUG_ROOT" "$@"; }

# ---- original script from here on ----------------------------------------

DB_SERVICE_HOST=${DB_SERVICE_HOST:-${SERVICE_HOST}}
DB_SERVICE_PORT=${DB_SERVICE_PORT:-27017}

MSG_SERVICE_HOST=${MSG_SERVICE_HOST:-${SERVICE_HOST}}
MSG_SERVICE_PORT=${MSG_SERVICE_PORT:-5672}
MSG_SERVICE_USER=${MSG_SERVICE_USER:-guest}

if [ -n "$PULP_SERVER_NAME" ]; then
  augtool -s set "/files/etc/pulp/server.conf/target[. = 'server']/server_name" $PULP_SERVER_NAME
fi

augtool -s set "/files/etc/pulp/server.conf/target[. = 'database']/seeds" \
  ${DB_SERVICE_HOST}:${DB_SERVICE_PORT}

augtool -s set "/files/etc/pulp/server.conf/target[. = 'messaging']/url" \
  tcp://${MSG_SERVICE_HOST}:${MSG_SERVICE_PORT}

augtool -s set "/files/etc/pulp/server.conf/target[. = 'tasks']/broker_url" \
  qpid://${MSG_SERVICE_USER}@${MSG_SERVICE_HOST}:${MSG_SERVICE_PORT}/
