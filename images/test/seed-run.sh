#!/bin/bash
# Entrypoint of the seed-style test image: the start-up of the original Pulp 2 images'
# run.sh, for one role, with the stand-ins of images/test/role.Containerfile:
#   configure_pulp_server.sh           4 augtool processes edit /etc/pulp/server.conf
#   test_db_available.py               wait for MongoDB (12 x 5 s); the broker is not checked
#   beat: runuser apache pulp-manage-db (no lock: every beat runs it)
#   exec runuser apache -s /bin/bash -c '<the role's command>'   (httpd: exec as root)
# bench/original/ holds the two scripts; bench/README.md says what differs from the original.
# Usage: run.sh ROLE   (ROLE: beat, resource_manager, worker, apache)
role=${1:-resource_manager}
/opt/seed/original/configure_pulp_server.sh
"$PULP_INIT_VENV/bin/python" /opt/seed/original/test_db_available.py /etc/pulp/server.conf || exit 1
case "$role" in
  beat)
    runuser apache -s /bin/bash -c /usr/local/bin/pulp-manage-db || exit 1
    exec runuser apache -s /bin/bash -c "celery beat -A pulp.server.async.app --workdir /var/lib/pulp/celery -l INFO" ;;
  resource_manager)
    exec runuser apache -s /bin/bash -c "celery worker -A pulp.server.async.app -n resource_manager@%h -Q resource_manager -c 1 --events --umask 18" ;;
  worker)
    exec runuser apache -s /bin/bash -c "celery worker -A pulp.server.async.app -n reserved_resource_worker-${PULP_WORKER_ID:-1}@%h -c 1 --events --umask 18 --heartbeat-interval 30" ;;
  apache)
    exec /usr/sbin/httpd -DFOREGROUND ;;
  *) echo "run.sh: unknown role $role" >&2; exit 64 ;;
esac
