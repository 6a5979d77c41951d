#!/usr/bin/env python3
"""Orphan/zombie generator for pulp-init integration tests (stdlib only).

Usage: orphans.py [N] [exit]

Creates N (default 2000) orphans by double fork: the child forks a grandchild
and exits at once (reaped here with waitpid), the grandchild exits at once too,
so it is reparented to PID 1 (or the nearest child subreaper) and stays a
zombie until that process reaps it.  Then prints "done N" to stdout (flushed)
and either sleeps until a signal ends it (default: SIGTERM/SIGINT -> exit 0)
or, with a second argument "exit", exits 0 immediately.

This models "a python program as PID 1 that double-forks 2000 short-lived
children": run it as pulp-init's child and check that no zombie is left
(e.g. count 'Z' states in /proc/*/stat).
"""

import os
import signal
import sys
import time


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    mode = sys.argv[2] if len(sys.argv) > 2 else "sleep"
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            # child: fork the grandchild, then exit without cleanup.
            try:
                if os.fork() == 0:
                    os._exit(0)  # grandchild: becomes an orphan zombie
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
    sys.stdout.write("done %d\n" % n)
    sys.stdout.flush()
    if mode == "exit":
        return 0
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
