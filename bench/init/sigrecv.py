"""Child program for the signal-latency test.

Blocks SIGUSR1 and waits for it in sigwaitinfo(2); on each delivery writes
the CLOCK_MONOTONIC time (ns) as a line on stdout. Prints "ready" first.
Exits on SIGTERM (default action).
"""
import os
import signal
import sys
import time

signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
out = sys.stdout
out.write(f"ready {os.getpid()}\n")
out.flush()
while True:
    signal.sigwaitinfo({signal.SIGUSR1})
    t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    out.write(f"{t}\n")
    out.flush()
