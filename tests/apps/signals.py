#!/usr/bin/env python3
"""Signal recorder for pulp-init integration tests (python3, stdlib only).

Usage: signals.py OUTFILE [EXIT_SIGNALS]

  OUTFILE       file to append to (opened O_APPEND, every line flushed+fsynced).
  EXIT_SIGNALS  comma list of signal numbers that make the program exit,
                default "15". Each may be "N" (exit with code N on signal N) or
                "N:CODE" (exit with CODE on signal N), e.g. "15:0,2,10:7".
                "" (empty string) = never exit on a signal (only SIGKILL ends it).

At start it writes, one per line:
  pid <PID>
  ppid <PPID>
  SigBlk:\t<hex>       (copied verbatim from /proc/self/status, before any
  SigIgn:\t<hex>        handler is installed, i.e. what it inherited)
  ready
Then for each received signal: the signal number alone, e.g. "15".
When exiting because of signal N it writes "exit <CODE>" and exits with CODE.

Handlers are installed for every catchable signal 1..SIGRTMAX except
SIGKILL/SIGSTOP (SIGCHLD, SIGTSTP, SIGTTIN, SIGTTOU, SIGWINCH, SIGURG, SIGCONT
and all real-time signals included). Signals that CPython cannot take
(32, 33: used by glibc/NPTL) are skipped silently.
"""

import os
import signal
import sys
import time


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    path = sys.argv[1]
    spec = sys.argv[2] if len(sys.argv) > 2 else "15"
    exit_on = {}
    for item in filter(None, (x.strip() for x in spec.split(","))):
        if ":" in item:
            sig, code = item.split(":", 1)
            exit_on[int(sig)] = int(code)
        else:
            exit_on[int(item)] = int(item)

    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(line):
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)

    write("pid %d" % os.getpid())
    write("ppid %d" % os.getppid())
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("SigBlk:", "SigIgn:")):
                write(line.rstrip("\n"))

    def handler(signum, _frame):
        write(str(signum))
        if signum in exit_on:
            write("exit %d" % exit_on[signum])
            os._exit(exit_on[signum])

    for signum in range(1, int(signal.SIGRTMAX) + 1):
        if signum in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(signum, handler)
        except (OSError, ValueError, RuntimeError):
            pass  # 32/33 reserved by glibc

    # Make sure nothing is blocked (CPython does not block any by default).
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    write("ready")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
