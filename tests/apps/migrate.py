"""A stand-in for pulp-manage-db that records each run in MongoDB.

Usage (env TEST_MONGO_URL=mongodb://127.0.0.1:PORT/, database pulp_database):
  migrate.py            one migration run: records {start, pid}, sleeps MIGRATE_SLEEP
                        seconds, then exits MIGRATE_EXIT (default 0) and records the end;
                        with MIGRATE_EXIT_FIRST=N the first run ever exits N instead.
  migrate.py runs       prints "<started> <finished>" (counts of runs)
  migrate.py lock       prints the migration lock holder, or "free"
  migrate.py records    prints the number of completion records
Output goes to stdout/stderr, as pulp-manage-db's does.
"""
import os
import signal
import sys
import time

import pymongo

db = pymongo.MongoClient(os.environ["TEST_MONGO_URL"], serverSelectionTimeoutMS=5000)[
    "pulp_database"
]

if len(sys.argv) > 1:
    what = sys.argv[1]
    if what == "runs":
        print(db.test_runs.count_documents({}), db.test_runs.count_documents({"end": {"$exists": True}}))
    elif what == "lock":
        lock = db.pulp_init.find_one({"_id": "migration_lock"})
        print(lock["holder"] if lock else "free")
    elif what == "records":
        print(db.pulp_init.count_documents({"_id": {"$regex": "^migrated:"}}))
    sys.exit(0)

first = db.test_runs.count_documents({}) == 0
run = db.test_runs.insert_one({"start": time.time(), "pid": os.getpid()}).inserted_id
print(f"migration {run} started", flush=True)


def stopped(sig, frame):
    print(f"migration {run} got signal {sig}", flush=True)
    db.test_runs.update_one({"_id": run}, {"$set": {"signal": sig}})
    sys.exit(128 + sig)


signal.signal(signal.SIGTERM, stopped)
time.sleep(float(os.environ.get("MIGRATE_SLEEP", "0")))
code = int(os.environ.get("MIGRATE_EXIT", "0"))
if first and "MIGRATE_EXIT_FIRST" in os.environ:
    code = int(os.environ["MIGRATE_EXIT_FIRST"])
if code == 0:
    db.test_runs.update_one({"_id": run}, {"$set": {"end": time.time()}})
print(f"migration {run} exits {code}", flush=True)
sys.exit(code)
