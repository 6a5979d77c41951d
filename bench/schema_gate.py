#!/usr/bin/env python3
"""bench/schema_gate.py -- how soon a role behind the schema gate starts once beat's
completion record is written: pulp-init's gate next to a 5 s polling loop like
pulp-oci-images' wait_on_database_migrations.sh, interleaved, in one run.

    schema_gate.py --bin PULP_INIT --port MONGO_PORT [--trials 20]

Each trial: the waiter is started, and once it waits, the record is written at a random
instant 0.5-4 s later; latency = waiter exit - write acknowledged (CLOCK_MONOTONIC).
pulp-init asks the pulp-manage-db stand-in's `--dry-run` meanwhile, which takes as long as
the real one was measured to (1.5 s on a host, 3.4 s in a container): the record lands
while one runs. The stand-in runs as nobody, as pulp-manage-db refuses root.
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
    time.sleep(random.uniform(0.5, 4.0))
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
    conf.write(f"[server]\nlog_type: console\n[database]\nseeds: 127.0.0.1:{a.port}\n")
    conf.close()
    os.chmod(conf.name, 0o644)
    site = os.path.join(os.environ.get("PULP_INIT_VENV", "/opt/pulp-init-venv"), "lib/python3.11/site-packages")
    env = dict(os.environ, TEST_MONGO_URL=url, PULP_SERVER_CONF=conf.name, PYTHONPATH=site)
    gates = {"gate, dry-run 1.5 s": "1.5", "gate, dry-run 3.4 s": "3.4"}
    results = {name: [] for name in gates}
    results["5 s polling loop"] = []
    for i in range(a.trials):
        order = list(results)
        random.shuffle(order)
        for name in order:
            fp = f"bench-{i}-{list(results).index(name)}"
            if name in gates:
                cmd = [a.bin, "--role", "worker", "--conf", conf.name, "--user", "nobody",
                       "--skip-config", "--skip-wait", "--skip-storage", "--syslog", "off",
                       "--migrate-command", f"/usr/bin/python3 {STAND_IN}", "--", "true"]
                e = dict(env, PULP_INIT_MIGRATION_FINGERPRINT=fp, MIGRATE_DRY_RUN_SECONDS=gates[name])
                results[name].append(trial(cmd, e, db, fp, "schema: waiting"))
            else:
                cmd = [sys.executable, "-c", POLL_LOOP, url, fp]
                results[name].append(trial(cmd, env, db, fp, None))
    print(f"schema gate: start after the completion record is written, {a.trials} trials")
    for name, v in results.items():
        print(f"  {name:20} p50 {pct(v, 50) * 1000:7.0f} ms   p95 {pct(v, 95) * 1000:7.0f} ms   max {max(v) * 1000:7.0f} ms")
    p = results["5 s polling loop"]
    for name in gates:
        g = results[name]
        print(f"  ratio (polling / {name}): p50 {pct(p, 50) / pct(g, 50):.1f}x   p95 {pct(p, 95) / pct(g, 95):.1f}x")
    worst = max(pct(results[name], 95) for name in gates)
    print(f"  goal p95 <= 250 ms after the record: {'met' if worst <= 0.25 else 'NOT met'} ({worst * 1000:.0f} ms)")
    os.unlink(conf.name)


if __name__ == "__main__":
    main()
