#!/opt/pulp-init-venv/bin/python
#
# Baseline for bench/wait.sh: a re-creation, for Python 3 + pymongo 4, of the
# test_db_available.py shipped in the original Pulp 2 docker images.
#
# What the original did (Python 2, pymongo): read [database] seeds from
# /etc/pulp/server.conf, then try to connect to MongoDB up to 12 times,
# 5 seconds apart; exit 0 on the first success, 1 after 12 failures. Only
# MongoDB is checked (not the broker), only reachability (no auth, no
# replica-set or primary check), and only the seeds key is read.
#
# Kept: the 12 x 5 s loop, the seeds from server.conf, the exit codes, one
# print per attempt. Changes, because the original cannot run here as is:
#
#   * Python 3 + configparser instead of Python 2 + ConfigParser.
#   * The file read is the first argument, else $PULP_SERVER_CONF, else
#     /etc/pulp/server.conf (the original's fixed path), so it can run on a
#     scratch copy.
#   * pymongo 4's MongoClient() no longer connects in the constructor (the
#     old one did, and failed at once on "connection refused"), so each
#     attempt is MongoClient(...) + one `ismaster` command, with
#     serverSelectionTimeoutMS=500 and connectTimeoutMS=500: against a
#     closed port an attempt fails after ~0.5 s (500 ms is pymongo's minimum
#     heartbeat, so that is one, at most two, TCP attempts), close to the old
#     "one connect, fail fast" behaviour. An attempt therefore costs ~0.5 s
#     plus the 5 s sleep when the database is down.
#   * No sleep after the 12th failure (the loop sleeps *between* attempts).
#
# Note: pymongo (3.x as in the images, and 4.x) joins its monitor threads at
# interpreter exit, and they sleep in 0.5 s steps: the process exits up to
# ~0.5 s after the successful `ismaster`. That is part of the baseline's cost.

import configparser
import os
import sys
import time

import pymongo
from pymongo.errors import PyMongoError

ATTEMPTS = 12
SLEEP = 5  # seconds between two attempts
TIMEOUT_MS = 500  # serverSelectionTimeoutMS / connectTimeoutMS of one attempt

conf_path = (sys.argv[1] if len(sys.argv) > 1
             else os.environ.get("PULP_SERVER_CONF", "/etc/pulp/server.conf"))
config = configparser.RawConfigParser(strict=False, interpolation=None)
config.read(conf_path)
seeds = config.get("database", "seeds", fallback="localhost:27017")
hosts = [s.strip() for s in seeds.split(",") if s.strip()]

for attempt in range(1, ATTEMPTS + 1):
    client = None
    try:
        client = pymongo.MongoClient(hosts, serverSelectionTimeoutMS=TIMEOUT_MS,
                                     connectTimeoutMS=TIMEOUT_MS)
        client.admin.command("ismaster")
        print("Database connection successful (%s)" % seeds)
        sys.exit(0)
    except PyMongoError as e:
        print("Database connection failed (%s), attempt %d of %d: %s"
              % (seeds, attempt, ATTEMPTS, str(e).split(" (configured")[0]))
    finally:
        if client is not None:
            client.close()
    if attempt < ATTEMPTS:
        time.sleep(SLEEP)

print("Database not available after %d attempts" % ATTEMPTS)
sys.exit(1)
