#!/bin/sh
# Entrypoint of the msg test image: writes rabbitmq.conf (listener on every address, the
# default user from RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS[_FILE]), then execs the
# server in the foreground, logging to stdout.
set -eu
user=${RABBITMQ_DEFAULT_USER:-guest}
if [ -n "${RABBITMQ_DEFAULT_PASS_FILE:-}" ]; then
  pass=$(cat "$RABBITMQ_DEFAULT_PASS_FILE")
else
  pass=${RABBITMQ_DEFAULT_PASS:-guest}
fi
{
  echo "listeners.tcp.default = 5672"
  echo "loopback_users = none"
  echo "default_user = $user"
  echo "default_pass = $pass"
  echo "disk_free_limit.absolute = 1MB"
} >/etc/rabbitmq/rabbitmq.conf
echo '[].' >/etc/rabbitmq/enabled_plugins
exec /usr/lib/rabbitmq/bin/rabbitmq-server
