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
"""

import logging
import os
import time

from celery import Celery

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
)

log = logging.getLogger("pulp_test_app")


@app.task(name="pulp_test_app.slow")
def slow(seconds):
    seconds = float(seconds)
    log.warning("slow task start %s", seconds)
    time.sleep(seconds)
    log.warning("slow task done %s", seconds)
    return seconds


@app.task(name="pulp_test_app.tick")
def tick():
    log.warning("tick")
    return "tick"
