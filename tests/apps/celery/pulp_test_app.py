"""Minimal Celery app used by pulp-init's integration tests.

Broker: env TEST_BROKER_URL (e.g. amqp://guest:guest@127.0.0.1:26010//).
No result backend, json serializer only (so no C_FORCE_ROOT is needed as root).

Tasks:
  pulp_test_app.slow(seconds)  - logs "slow task start <s>", sleeps, logs
                                 "slow task done <s>", returns seconds.
  pulp_test_app.tick()         - scheduled by beat every 1 s.

Usage (cwd or PYTHONPATH = tests/apps/celery):
  celery -A pulp_test_app worker -n resource_manager@%h -Q resource_manager \
      -c 1 --events --umask 18 -l INFO
  celery -A pulp_test_app beat -l INFO --workdir DIR -s DIR/celerybeat-schedule

As Pulp 2.21.5's app (pulp/server/async/app.py, scheduler.py, worker_watcher.py; see
tests/apps/README.md), every process keeps its record in Pulp's `workers` collection:
  env TEST_MONGO_URL    the database server (default mongodb://localhost:27017/: Pulp's
                        default seeds; Pulp cannot run without its database)
  env TEST_MONGO_DB     the database ([database] name, default pulp_database)
  env TEST_WORKER_TIMEOUT       [tasks] worker_timeout (default 30): a heartbeat every
                                worker_timeout / 5 s (int, as Pulp's constants.py)
  env TEST_WORKING_DIRECTORY    [server] working_directory (default /var/cache/pulp): each
                                worker makes <it>/<node name> at start, each task
                                <it>/<node name>/<task id>
"""

import datetime
import logging
import os
import platform
import shutil
import time

import pymongo
from celery import Celery, bootsteps
from celery.beat import PersistentScheduler
from celery.signals import celeryd_after_setup

BROKER_URL = os.environ.get("TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:26010//")

app = Celery("pulp_test_app", broker=BROKER_URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_backend=None,
    task_ignore_result=True,
    # Route everything to the Pulp-like resource_manager queue by default so a
    # task sent with .delay() reaches a worker started with -Q resource_manager.
    task_default_queue="resource_manager",
    # Do not keep retrying forever at start-up if the broker is gone: tests
    # want failures to be visible quickly.
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=3,
    worker_hijack_root_logger=True,
    worker_redirect_stdouts=True,
    # acks_late=False (default): on warm shutdown the running task finishes.
    beat_schedule={
        "tick-every-second": {
            "task": "pulp_test_app.tick",
            "schedule": 1.0,
            # Own queue (not resource_manager) so ticks never delay slow();
            # expire quickly because usually nobody consumes them.
            "options": {"queue": "pulp_test_beat", "expires": 10},
        },
    },
    timezone="UTC",
    enable_utc=True,
    # Pulp's celery_instance.py: CELERYBEAT_SCHEDULER = pulp.server.async.scheduler.Scheduler.
    beat_scheduler="pulp_test_app:Scheduler",
)

log = logging.getLogger("pulp_test_app")


# pulp.server.constants: PULP_PROCESS_HEARTBEAT_INTERVAL = int(worker_timeout / 5).
WORKER_TIMEOUT = int(os.environ.get("TEST_WORKER_TIMEOUT", "30"))
HEARTBEAT_INTERVAL = int(WORKER_TIMEOUT / 5)
WORKING_DIRECTORY = os.environ.get("TEST_WORKING_DIRECTORY", "/var/cache/pulp")
# pulp/server/async/scheduler.py: CELERYBEAT_NAME = "scheduler@" + platform.node().
SCHEDULER_NAME = "scheduler@" + platform.node()

_db = None


def workers():
    """Pulp's `workers` collection. One client per process, made on first use (the prefork
    pool's children never touch it). pymongo's default 30 s server selection: an unreachable
    database fails the step that needs it, as Pulp's does."""
    global _db
    if _db is None:
        url = os.environ.get("TEST_MONGO_URL", "mongodb://localhost:27017/")
        _db = pymongo.MongoClient(url, connect=False)[
            os.environ.get("TEST_MONGO_DB", "pulp_database")
        ]
    return _db.workers


def record_heartbeat(name):
    """worker_watcher.handle_worker_heartbeat: `_id` the name, `last_heartbeat` UTC now."""
    if workers().find_one({"_id": name}) is None:
        log.info("New worker '%s' discovered", name)
    workers().update_one(
        {"_id": name},
        {"$set": {"last_heartbeat": datetime.datetime.now(datetime.timezone.utc)}},
        upsert=True,
    )


def delete_worker(name):
    """tasks._delete_worker(name, normal_shutdown=True): the record goes."""
    log.info("Cleaning up shutdown worker '%s'.", name)
    workers().delete_one({"_id": name})


class HeartbeatStep(bootsteps.StartStopStep):
    """app.py's HeartbeatStep: a heartbeat when the consumer starts and every interval on its
    timer; the record removed when the consumer shuts down (warm and cold shutdown alike,
    before the process ends). A SIGKILLed worker leaves it behind."""

    def __init__(self, consumer, **kwargs):
        self.timer_ref = None

    def start(self, consumer):
        self.timer_ref = consumer.timer.call_repeatedly(
            HEARTBEAT_INTERVAL, record_heartbeat, (consumer.hostname,), priority=10
        )
        record_heartbeat(consumer.hostname)

    def stop(self, consumer):
        if self.timer_ref:
            self.timer_ref.cancel()
            self.timer_ref = None

    def shutdown(self, consumer):
        delete_worker(consumer.hostname)


app.steps["consumer"].add(HeartbeatStep)


@celeryd_after_setup.connect
def initialize_worker(sender, instance, **kwargs):
    """app.py's initialize_worker: the old record goes, the worker's working directory is
    removed and made again with os.mkdir (so its parent must exist and be writable). As in
    Celery 4.0.2, Celery logs an exception raised here ("Signal handler ... raised") and the
    worker starts anyway; its tasks then fail (see slow)."""
    delete_worker(sender)
    path = os.path.join(WORKING_DIRECTORY, sender)
    if os.path.exists(path):
        shutil.rmtree(path)
    os.mkdir(path)


class Scheduler(PersistentScheduler):
    """scheduler.py's Scheduler: beat's heartbeat as `scheduler@<host>` from its tick, at
    least every interval (Pulp's max_interval), the record removed in close() (beat's
    SIGTERM). The stand-in's 1 s tick entry would make that every second: the heartbeat is
    written on the tick that is due, so the cadence stays Pulp's."""

    max_interval = HEARTBEAT_INTERVAL

    def __init__(self, *args, **kwargs):
        self._next_heartbeat = None
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        now = time.monotonic()
        if self._next_heartbeat is None or now >= self._next_heartbeat:
            record_heartbeat(SCHEDULER_NAME)
            self._next_heartbeat = now + HEARTBEAT_INTERVAL
        ret = super().tick(*args, **kwargs)
        return min(ret, max(self._next_heartbeat - time.monotonic(), 0))

    def close(self):
        # Beat's TERM handler syncs and raises SystemExit, whose `finally` syncs again.
        if self._next_heartbeat is not None:
            delete_worker(SCHEDULER_NAME)
            self._next_heartbeat = None
        super().close()


@app.task(name="pulp_test_app.slow", bind=True)
def slow(self, seconds):
    # A Pulp task's working directory (repo/_common.get_working_directory: os.mkdir of
    # <working_directory>/<worker>/<task id>, removed when the task ends).
    work = os.path.join(WORKING_DIRECTORY, self.request.hostname, self.request.id)
    os.mkdir(work)
    try:
        seconds = float(seconds)
        log.warning("slow task start %s", seconds)
        time.sleep(seconds)
        log.warning("slow task done %s", seconds)
        return seconds
    finally:
        shutil.rmtree(work, ignore_errors=True)


@app.task(name="pulp_test_app.tick")
def tick():
    log.warning("tick")
    return "tick"
