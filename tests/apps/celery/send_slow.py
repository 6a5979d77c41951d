"""Send pulp_test_app.slow(SECONDS) to the resource_manager queue and exit.

Usage: TEST_BROKER_URL=amqp://... /opt/pulp-init-venv/bin/python send_slow.py [SECONDS]
(cwd or PYTHONPATH = tests/apps/celery). Prints the task id.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pulp_test_app import slow  # noqa: E402

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
res = slow.apply_async(args=[seconds], queue="resource_manager")
print(res.id, flush=True)
