#!/bin/sh
# Like signals.py, but first records the signal state INHERITED from the parent
# (CPython itself ignores SIGPIPE(13) and SIGXFSZ(25) at start-up, so the
# SigIgn line written by signals.py always has bits 13 and 25 set).
# Usage: signals.sh OUTFILE [EXIT_SIGNALS]   (writes "inherited SigBlk:\t<hex>"
# and "inherited SigIgn:\t<hex>", then execs python3 signals.py with the same args)
out=$1
grep -E '^Sig(Blk|Ign):' /proc/self/status | sed 's/^/inherited /' >> "$out"
exec python3 "$(dirname "$0")/signals.py" "$@"
