#!/opt/venv/bin/python
"""Healthcheck of the db test image: one `ping` on 127.0.0.1:27017 (exit 0 = answers)."""
import sys

import pymongo

try:
    pymongo.MongoClient("127.0.0.1", 27017, serverSelectionTimeoutMS=3000).admin.command("ping")
except Exception as e:  # noqa: BLE001 - any failure is "not healthy"
    print(e, file=sys.stderr)
    sys.exit(1)
