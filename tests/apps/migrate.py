"""A stand-in for pulp-manage-db that records each run in MongoDB, and behaves as the real
pulp-manage-db 2.21.5 was measured to (/work/shared/REALPULP.md, tests/apps/README.md):
exit 64 as root; exit 69 when server.conf's [server] log_type is syslog (the default) and
/dev/log is missing; exit 70 after MIGRATE_DB_TIMEOUT s (default 30, as the real one's ~31 s)
when the database cannot be reached; every log line printed twice under `log_type: console`
(`pulp: pulp.server.db.manage:LEVEL: msg`, then `msg`); `--dry-run` takes
MIGRATE_DRY_RUN_SECONDS (default 1.5, as the real one's 1.4-1.7 s on a host); a migration
MIGRATE_SLEEP s (default 2.2, as a fresh database's 2.2-4.3 s); with live Pulp processes in
`workers` it waits MIGRATE_WAIT_SECONDS (default 92) and exits 70 when any is still there; a
failing migration (exit 70) prints Pulp's "Applying migration ... failed." and traceback.
server.conf: PULP_SERVER_CONF, else /etc/pulp/server.conf.

Usage (env TEST_MONGO_URL=mongodb://127.0.0.1:PORT/, database pulp_database):
  migrate.py            one migration run: records {start, pid, schema}, sleeps MIGRATE_SLEEP
                        seconds, then exits MIGRATE_EXIT (default 0) and records the end;
                        with MIGRATE_EXIT_FIRST=N the first run ever exits N instead;
                        MIGRATE_CHILD=1: as a wrapper that does not exec (the work runs in a
                        child process of the same group, which keeps running if only the
                        wrapper is signalled)
  migrate.py --dry-run  exits 0 when a migration run finished (with MIGRATE_SCHEMA set: a
                        run of that schema, i.e. release) or the test marked the
                        schema current (migrate.py schema-current), else 1, as
                        pulp-manage-db --dry-run (MIGRATE_DRY_RUN_EXIT=N: exits N); each
                        call is recorded (migrate.py dry-runs counts them)
The test's own queries (run as any user, no pulp-manage-db behaviour):
  migrate.py runs       prints "<started> <finished>" (counts of runs)
  migrate.py dry-runs   prints the number of --dry-run calls so far
  migrate.py lock       prints the migration lock holder, or "free"
  migrate.py records    prints the number of completion records
  migrate.py record-of FP   prints the completion record of FP as JSON
  migrate.py pids       prints the pids of the migration runs, one per line
  migrate.py dry-run-pids   the same for the --dry-run calls
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
  migrate.py pods        prints the pods' presence records (pulp_init, _id pod:<host>), one JSON line each
  migrate.py delete COLLECTION JSON   deletes the matching documents, prints how many
  migrate.py delete-worker NAME   removes workers/NAME (as a clean stop does), prints when
                        (epoch seconds)
Output goes to stdout/stderr, as pulp-manage-db's does.
"""
import os
import signal
import sys
import time

import pymongo

QUERIES = {"runs", "dry-runs", "lock", "records", "record-of", "pids", "dry-run-pids", "online", "first-start",
           "lease-left", "schema-current", "record", "insert", "workers", "heartbeat",
           "delete-worker", "pods", "delete"}
what = sys.argv[1] if len(sys.argv) > 1 else ""

if what not in QUERIES:
    # pulp-manage-db's own start: the checks it makes before anything else.
    import configparser

    if os.getuid() == 0:
        print("This must not be run as root, but as the same user apache runs as.", file=sys.stderr)
        sys.exit(64)
    conf = configparser.ConfigParser(inline_comment_prefixes=(";",), strict=False)
    conf.read(os.environ.get("PULP_SERVER_CONF", "/etc/pulp/server.conf"))
    log_type = conf.get("server", "log_type", fallback="syslog")
    if log_type not in ("syslog", "console"):
        print("log_type not properly set. Defaulting to syslog.", file=sys.stderr)
        log_type = "syslog"
    if log_type == "syslog" and not os.path.exists("/dev/log"):
        print("Unable to access log, /dev/log.", file=sys.stderr)
        sys.exit(69)
    import logging
    import logging.handlers

    root = logging.getLogger()
    root.setLevel(logging.INFO)
    if log_type == "syslog":
        pulp_handler = logging.handlers.SysLogHandler(address="/dev/log", facility=logging.handlers.SysLogHandler.LOG_DAEMON)
    else:
        pulp_handler = logging.StreamHandler()
    pulp_handler.setFormatter(logging.Formatter("pulp: %(name)s:%(levelname)s: %(message)s"))
    root.addHandler(pulp_handler)
    root.addHandler(logging.StreamHandler())  # pulp-manage-db's console handler, on top
    log = logging.getLogger("pulp.server.db.manage")
    timeout = float(os.environ.get("MIGRATE_DB_TIMEOUT", "30"))
else:
    timeout = 5

db = pymongo.MongoClient(os.environ["TEST_MONGO_URL"], serverSelectionTimeoutMS=int(timeout * 1000))[
    "pulp_database"
]

if what in QUERIES:
    if what == "runs":
        print(db.test_runs.count_documents({}), db.test_runs.count_documents({"end": {"$exists": True}}))
    elif what == "dry-runs":
        print(db.test_dry_runs.count_documents({}))
    elif what == "record-of":
        import json
        r = db.pulp_init.find_one({"_id": "migrated:" + sys.argv[2]})
        print(json.dumps(r, default=str))
    elif what == "dry-run-pids":
        for r in db.test_dry_runs.find({}, sort=[("at", 1)]):
            print(r["pid"])
    elif what == "pids":
        for r in db.test_runs.find({}, sort=[("start", 1)]):
            print(r["pid"])
    elif what == "pods":
        import json
        for r in db.pulp_init.find({"_id": {"$regex": "^pod:"}}, sort=[("_id", 1)]):
            print(json.dumps(r, default=str))
    elif what == "delete":
        import json
        print(db[sys.argv[2]].delete_many(json.loads(sys.argv[3])).deleted_count)
    elif what == "delete-worker":
        db.workers.delete_one({"_id": sys.argv[2]})
        print("%.6f" % time.time(), flush=True)
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

def reachable():
    try:
        db.command("ping")
    except pymongo.errors.ServerSelectionTimeoutError:
        log.info("Cannot connect to the database, please validate that the database is online and accessible.")
        sys.exit(70)


if what == "--dry-run":
    if "MIGRATE_DRY_RUN_EXIT" in os.environ:
        sys.exit(int(os.environ["MIGRATE_DRY_RUN_EXIT"]))
    reachable()
    db.test_dry_runs.insert_one({"at": time.time(), "pid": os.getpid()})
    log.info("Loading content types.")
    time.sleep(float(os.environ.get("MIGRATE_DRY_RUN_SECONDS", "1.5")))
    current = db.test_state.find_one({"_id": "schema", "current": True})
    done = {"end": {"$exists": True}}
    if os.environ.get("MIGRATE_SCHEMA"):
        done["schema"] = os.environ["MIGRATE_SCHEMA"]
    migrated = db.test_runs.find_one(done)
    log.info("Database migrations complete.")
    sys.exit(0 if current or migrated else 1)

reachable()


def live_workers():
    # Worker.objects.get_online(): a heartbeat within PULP_PROCESS_TIMEOUT_INTERVAL, that is
    # worker_timeout - int(worker_timeout / 5) (24 s by default).
    import datetime
    timeout = conf.getint("tasks", "worker_timeout", fallback=30)
    since = datetime.datetime.utcnow() - datetime.timedelta(seconds=timeout - int(timeout / 5))
    return list(db.workers.find({"last_heartbeat": {"$gt": since}}))


# pulp-manage-db's check for live Pulp processes (constants.MIGRATION_WAIT_TIME, 92 s).
active = live_workers()
if active:
    print("\nThe following processes might still be running:")
    for w in active:
        print("\t%s" % w["_id"])
    sys.stdout.flush()
    import datetime
    last = max(w["last_heartbeat"] for w in active)
    age = (datetime.datetime.utcnow() - last).total_seconds()
    time.sleep(max(0.0, float(os.environ.get("MIGRATE_WAIT_SECONDS", "92")) - age))
    still = [w for w in live_workers() if w["last_heartbeat"] > last]
    if still:
        print("\n\nThe following processes are still running, please stop the running workers"
              " before retrying the pulp-manage-db command.", file=sys.stderr)
        for w in still:
            print("\t%s" % w["_id"])
        sys.exit(70)

if os.environ.get("MIGRATE_CHILD") == "1" and not os.environ.get("MIGRATE_IS_CHILD"):
    # A wrapper that does not exec: its child does the work, in the same process group.
    import subprocess
    env = dict(os.environ, MIGRATE_IS_CHILD="1")
    child = subprocess.Popen([sys.executable] + sys.argv, env=env)
    sys.exit(child.wait())

first = db.test_runs.count_documents({}) == 0
run = db.test_runs.insert_one(
    {"start": time.time(), "pid": os.getpid(), "schema": os.environ.get("MIGRATE_SCHEMA")}
).inserted_id
log.info("Beginning database migrations.")
print(f"migration {run} started", flush=True)


def stopped(sig, frame):
    print(f"migration {run} got signal {sig}", flush=True)
    db.test_runs.update_one({"_id": run}, {"$set": {"signal": sig}})
    sys.exit(128 + sig)


signal.signal(signal.SIGTERM, stopped)
time.sleep(float(os.environ.get("MIGRATE_SLEEP", "2.2")))
code = int(os.environ.get("MIGRATE_EXIT", "0"))
if first and "MIGRATE_EXIT_FIRST" in os.environ:
    code = int(os.environ["MIGRATE_EXIT_FIRST"])
if code == 0:
    db.test_runs.update_one({"_id": run}, {"$set": {"end": time.time()}})
    log.info("Database migrations complete.")
elif code == 70:
    # What the real one prints when a migration raises (and exits EX_SOFTWARE).
    log.critical("Applying migration pulp.server.db.migrations.0030_stand_in failed.\n\n"
                 "Halting migrations due to a migration failure.")
    log.critical("stand-in migration failed")
    log.critical("Traceback (most recent call last):\n"
                 '  File "/usr/lib/python2.7/site-packages/pulp/server/db/manage.py", line 178, in migrate_database\n'
                 "    migration_package.apply_migration(migration,\n"
                 "ValueError: stand-in migration failed\n")
print(f"migration {run} exits {code}", flush=True)
sys.exit(code)
