"""Child program for the orphan-reaping test (run under an init that is PID 1).

Usage: orphans.py N DEADLINE_S [--sync]

Creates N orphans: for each, fork an intermediate child which forks a
grandchild and exits at once; the intermediate is reaped here, so the
grandchild is re-parented to PID 1 of the namespace. All grandchildren block
on a pipe; once all N exist, the write end is closed and they all exit at the
same moment, leaving N zombies that only PID 1 can reap.

With --sync (driven by bench.py reap): after forking, prints "forked" and
waits for a line on stdin (the driver SIGSTOPs the init meanwhile), releases
the grandchildren, waits until all N are zombies, prints "allzombie" and
waits for another line (the driver SIGCONTs the init and notes the time),
so the timed part is the reaping alone, not the 2000 exits.

Then polls until PID 1 has no child left other than us (cheap:
/proc/1/task/1/children, which lists zombies until they are reaped) and
confirms with a full /proc scan for Z-state processes. Prints one JSON line.
Must run with its own /proc (unshare --mount-proc).
"""
import json
import os
import sys
import time

n = int(sys.argv[1])
deadline_s = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
me = os.getpid()


def children_of_1():
    try:
        with open("/proc/1/task/1/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def zombies():
    """Full scan: count of Z-state processes in this PID namespace."""
    z = 0
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open(f"/proc/{e}/stat", "rb") as f:
                s = f.read()
        except OSError:
            continue
        if s[s.rindex(b")") + 2 : s.rindex(b")") + 3] == b"Z":
            z += 1
    return z


r, w = os.pipe()
t_fork0 = time.monotonic_ns()
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            os.close(w)
            os.read(r, 1)  # EOF when the last write end is closed
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
t_fork1 = time.monotonic_ns()
os.close(r)

sync = "--sync" in sys.argv
waiting = len([p for p in children_of_1() if p != me])


def zombie_children():
    z = 0
    for p in children_of_1():
        if p == me:
            continue
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                s = f.read()
        except OSError:
            continue
        if s[s.rindex(b")") + 2 : s.rindex(b")") + 3] == b"Z":
            z += 1
    return z


if sync:
    print(f"forked {me}", flush=True)
    sys.stdin.readline()  # init is stopped now (unless we are PID 1)
    os.close(w)
    dl = time.monotonic() + 30
    while zombie_children() < waiting and time.monotonic() < dl:
        time.sleep(0.001)
    print(f"allzombie {zombie_children()}", flush=True)
    sys.stdin.readline()  # init continued now
    t0 = time.monotonic_ns()
else:
    t0 = time.monotonic_ns()
    os.close(w)  # all n grandchildren exit now
deadline = t0 + int(deadline_s * 1e9)
t_end = None
polls = 0
while True:
    polls += 1
    left = [p for p in children_of_1() if p != me]
    now = time.monotonic_ns()
    if not left:
        z = zombies()
        if z == 0:
            t_end = now
            break
    if now > deadline:
        break
    time.sleep(0.0001)

final_z = zombies()
print(json.dumps({
    "n": n,
    "pid": me,
    "orphans_before_release": waiting,
    "fork_phase_ms": (t_fork1 - t_fork0) / 1e6,
    "t0_ns": t0,
    "t_end_ns": t_end,
    "reap_ms": None if t_end is None else (t_end - t0) / 1e6,
    "timed_out": t_end is None,
    "final_zombies": final_z,
    "final_children_of_pid1": len([p for p in children_of_1() if p != me]),
    "polls": polls,
}), flush=True)
