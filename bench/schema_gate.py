#!/usr/bin/env python3
"""bench/schema_gate.py -- how soon a role behind the schema gate starts once beat's
completion record is written: pulp-init's gate next to a 5 s polling loop like
pulp-oci-images' wait_on_database_migrations.sh, interleaved, in one run.

    schema_gate.py --bin PULP_INIT --port MONGO_PORT [--trials 20]

Each trial: the waiter is started, and once it waits, the record is written at a random
instant 0.5-1.5 s later; latency = waiter exit - write acknowledged (CLOCK_MONOTONIC).
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

import pymongo

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAND_IN = os.path.join(REPO, "tests/apps/migrate.py")

POLL_LOOP = r"""
import sys, time, pymongo
db = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=5000)["pulp_database"]
while not db.pulp_init.find_one({"_id": "migrated:" + sys.argv[2]}):
    time.sleep(5)
"""


def trial(cmd, env, db, fingerprint, ready_text):
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if ready_text:
        for line in proc.stderr:
            if ready_text in line:
                break
    else:
        time.sleep(0.3)
    time.sleep(random.uniform(0.5, 1.5))
    db.pulp_init.insert_one({"_id": "migrated:" + fingerprint, "fingerprint": fingerprint,
                             "completed_at": db.command("hello")["localTime"], "holder": "bench"})
    written = time.monotonic()
    while proc.poll() is None:
        time.sleep(0.001)
    ended = time.monotonic()
    proc.stderr.close()
    if proc.returncode != 0:
        sys.exit(f"waiter failed: {cmd} -> {proc.returncode}")
    return ended - written


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--trials", type=int, default=20)
    a = ap.parse_args()
    url = f"mongodb://127.0.0.1:{a.port}/"
    db = pymongo.MongoClient(url)["pulp_database"]
    conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    conf.write(f"[database]\nseeds: 127.0.0.1:{a.port}\n")
    conf.close()
    env = dict(os.environ, TEST_MONGO_URL=url)
    results = {"pulp-init gate": [], "5 s polling loop": []}
    for i in range(a.trials):
        order = list(results)
        random.shuffle(order)
        for name in order:
            fp = f"bench-{i}-{name[:4]}"
            if name == "pulp-init gate":
                cmd = [a.bin, "--role", "worker", "--conf", conf.name, "--user", "root",
                       "--skip-config", "--skip-wait", "--migrate-command",
                       f"{sys.executable} {STAND_IN}", "--", "true"]
                e = dict(env, PULP_INIT_MIGRATION_FINGERPRINT=fp)
                results[name].append(trial(cmd, e, db, fp, "schema: waiting"))
            else:
                cmd = [sys.executable, "-c", POLL_LOOP, url, fp]
                results[name].append(trial(cmd, env, db, fp, None))
    print(f"schema gate: start after the completion record is written, {a.trials} trials")
    for name, v in results.items():
        print(f"  {name:18} p50 {pct(v, 50) * 1000:7.0f} ms   p95 {pct(v, 95) * 1000:7.0f} ms   max {max(v) * 1000:7.0f} ms")
    g, p = results["pulp-init gate"], results["5 s polling loop"]
    print(f"  ratio (polling / gate): p50 {pct(p, 50) / pct(g, 50):.1f}x   p95 {pct(p, 95) / pct(g, 95):.1f}x")
    os.unlink(conf.name)


if __name__ == "__main__":
    main()
