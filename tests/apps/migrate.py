"""A stand-in for pulp-manage-db that records each run in MongoDB.

Usage (env TEST_MONGO_URL=mongodb://127.0.0.1:PORT/, database pulp_database):
  migrate.py            one migration run: records {start, pid}, sleeps MIGRATE_SLEEP
                        seconds, then exits MIGRATE_EXIT (default 0) and records the end;
                        with MIGRATE_EXIT_FIRST=N the first run ever exits N instead.
  migrate.py runs       prints "<started> <finished>" (counts of runs)
  migrate.py lock       prints the migration lock holder, or "free"
  migrate.py records    prints the number of completion records
  migrate.py --dry-run  exits 0 when a migration run finished or the test marked the
                        schema current (migrate.py schema-current), else 1, as
                        pulp-manage-db --dry-run (MIGRATE_DRY_RUN_EXIT=N: exits N)
  migrate.py schema-current   marks the schema current
  migrate.py record FP  writes a completion record for fingerprint FP, as a beat would
  migrate.py online     prints the number of Pulp workers documents
  migrate.py first-start   prints when the first migration run started (epoch seconds)
  migrate.py lease-left    prints the seconds left on the lock's lease, by the server's clock
  migrate.py insert COLL JSON   inserts the JSON document into COLL as is (malformed on
                        purpose); {"$now": S} in it is the server-side time now + S seconds
  migrate.py workers N  inserts N workers documents with a heartbeat of now
  migrate.py heartbeat NAME SECONDS   refreshes Pulp's workers/NAME heartbeat every
                        0.1 s for SECONDS, then prints the last heartbeat (epoch seconds)
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
    elif what == "online":
        print(db.workers.count_documents({}))
    elif what == "first-start":
        print("%.6f" % db.test_runs.find_one(sort=[("start", 1)])["start"])
    elif what == "lease-left":
        lock = db.pulp_init.find_one({"_id": "migration_lock"})
        now = db.command("hello")["localTime"]
        print((lock["expires"] - now).total_seconds())
    elif what == "--dry-run" and "MIGRATE_DRY_RUN_EXIT" in os.environ:
        sys.exit(int(os.environ["MIGRATE_DRY_RUN_EXIT"]))
    elif what == "--dry-run":
        current = db.test_state.find_one({"_id": "schema", "current": True})
        migrated = db.test_runs.find_one({"end": {"$exists": True}})
        sys.exit(0 if current or migrated else 1)
    elif what == "schema-current":
        db.test_state.update_one({"_id": "schema"}, {"$set": {"current": True}}, upsert=True)
    elif what == "record":
        import datetime
        fp = sys.argv[2]
        db.pulp_init.update_one(
            {"_id": "migrated:" + fp},
            {"$set": {"fingerprint": fp, "completed_at": datetime.datetime.utcnow(),
                      "holder": "test-beat", "seconds": 0.0}},
            upsert=True,
        )
        print("%.6f" % time.time(), flush=True)
    elif what == "insert":
        import datetime
        import json

        def when(v):
            if isinstance(v, dict) and set(v) == {"$now"}:
                return datetime.datetime.utcnow() + datetime.timedelta(seconds=v["$now"])
            if isinstance(v, dict):
                return {k: when(x) for k, x in v.items()}
            return v

        doc = when(json.loads(sys.argv[3]))
        if isinstance(doc, list):
            db[sys.argv[2]].insert_many(doc)
        else:
            db[sys.argv[2]].insert_one(doc)
    elif what == "workers":
        import datetime
        now = datetime.datetime.utcnow()
        db.workers.insert_many(
            [{"_id": "reserved_resource_worker-%d@pod" % i, "last_heartbeat": now}
             for i in range(int(sys.argv[2]))]
        )
    elif what == "heartbeat":
        import datetime
        name, until = sys.argv[2], time.time() + float(sys.argv[3])
        last = 0.0
        while time.time() < until:
            last = time.time()
            db.workers.update_one(
                {"_id": name},
                {"$set": {"last_heartbeat": datetime.datetime.utcfromtimestamp(last)}},
                upsert=True,
            )
            time.sleep(0.1)
        print("%.6f" % last, flush=True)
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
