#!/usr/bin/env bash
# The main job end to end, on a scratch copy of a real Pulp server.conf: the environment
# a Pulp container gets, the diff pulp-init would apply, the edit, what Pulp reads back.
# Usage: scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh >/dev/null
cargo build --release --locked --quiet
bin=target/release/pulp-init
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp tests/fixtures/server-conf/pulp-2.21-final.conf "$work/server.conf"
printf 'hunter2\n' >"$work/db-password"

export PULP_SERVER_CONF="$work/server.conf"
export PULP_SERVER_NAME=pulp.example.com
export DB_SERVICE_HOST=mongo-0.db,mongo-1.db DB_SERVICE_PORT=27017
export PULP__DATABASE__REPLICA_SET=rs0 PULP__DATABASE__USERNAME=pulp
export PULP__DATABASE__PASSWORD_FILE="$work/db-password"
export MSG_SERVICE_HOST=rabbitmq MSG_SERVICE_TYPE=rabbitmq
export MSG_SERVICE_USER=pulp MSG_SERVICE_PASSWORD='s3cr%t@pass' MSG_SERVICE_VHOST=pulp

echo "== pulp-init config --diff (nothing written; secrets redacted)"
"$bin" config --diff
echo
echo "== pulp-init config"
"$bin" config
echo
echo "== a second run changes nothing"
"$bin" config
echo
echo "== what Pulp reads back (Python configparser, as Pulp reads server.conf)"
python3 tests/py/read_conf.py "$work/server.conf" | python3 -c '
import json, re, sys
conf = json.load(sys.stdin)
for section, key in [("server", "server_name"), ("database", "seeds"), ("database", "replica_set"),
                     ("database", "username"), ("messaging", "transport"), ("tasks", "broker_url")]:
    value = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", conf[section][key])
    print(f"[{section}] {key} = {value}")
print("[database] password and the broker password are set (not shown)")'
echo
echo "== bad input: one clear line, exit 64, file untouched"
DB_SERVICE_PORT=27O17 "$bin" config || echo "exit status: $?"
