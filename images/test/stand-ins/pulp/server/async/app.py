"""Stand-in for Pulp 2's Celery app (`celery -A pulp.server.async.app`): the test app of
tests/apps/celery, connected to the broker of the effective server.conf ([tasks] broker_url),
as Pulp's is, and keeping its record in the `workers` collection of the database that
server.conf names ([database] seeds and name), with Pulp's heartbeat ([tasks]
worker_timeout) and working directory ([server] working_directory), with Pulp's defaults.
TEST_BROKER_URL and TEST_MONGO_URL, when set, win (the seed-style image's stack uses them:
the original configure script writes a qpid:// URL and the stand-in broker is RabbitMQ)."""
import os

import conf

os.environ.setdefault("TEST_BROKER_URL", conf.get("tasks", "broker_url", "qpid://localhost/"))
os.environ.setdefault(
    "TEST_MONGO_URL", "mongodb://%s/" % conf.get("database", "seeds", "localhost:27017")
)
os.environ.setdefault("TEST_MONGO_DB", conf.get("database", "name", "pulp_database"))
os.environ.setdefault("TEST_WORKER_TIMEOUT", conf.get("tasks", "worker_timeout", "30"))
os.environ.setdefault(
    "TEST_WORKING_DIRECTORY", conf.get("server", "working_directory", "/var/cache/pulp")
)

from pulp_test_app import app  # noqa: E402,F401

# What the tests and the benchmark wait for, whatever the log level (the roles' commands have
# no `-l INFO`, and Celery's own "ready." line is INFO): one line on stderr.
import sys  # noqa: E402

from celery.signals import beat_init, worker_ready  # noqa: E402


@worker_ready.connect
def _worker_ready(sender=None, **kwargs):
    print("stand-in: worker %s ready" % sender.hostname, file=sys.stderr, flush=True)


@beat_init.connect
def _beat_ready(sender=None, **kwargs):
    print("stand-in: beat ready", file=sys.stderr, flush=True)


# Printed when a Celery worker ends by itself (a shutdown that ran to its end), never when
# it is SIGKILLed: the benchmark tells the two apart with it. (Beat leaves through
# os._exit: no line.)
import atexit  # noqa: E402
import os  # noqa: E402,F811

_pid = os.getpid()


@atexit.register
def _exited():
    if os.getpid() == _pid:  # not in a forked pool process
        print("stand-in: celery exited by itself", file=sys.__stderr__, flush=True)
