"""Reads server.conf exactly as Pulp 2 does -- Python 2.7's ConfigParser.SafeConfigParser --
and prints what every key reads as, one JSON object per file on one line.

Usage (Python 2.7 only):
    read_conf2.py PATH [PATH...]   one line per PATH
    read_conf2.py --batch          one path per line on stdin, one line out per path, flushed
                                   (for property tests: one interpreter for many files)

Output for a file Pulp can read:
    {"path": P, "ok": true,
     "defaults": {key: raw},
     "sections": {section: {key: {"raw": R, "value": V} | {"raw": R, "error": E}}}}
`sections` lists every section but DEFAULT, and in each one every option Pulp's
`config.get(section, key)` answers, [DEFAULT] keys included. `raw` is get(raw=True);
`value` is get() (%-interpolated), or `error` (type: message) where interpolation fails,
as Pulp would fail when it reads that key.

Output for a file Pulp cannot read (ParsingError, MissingSectionHeaderError, IOError...):
    {"path": P, "ok": false, "error": {"type": T, "message": M}}

Strings are decoded as UTF-8 (the file is read as bytes, like Pulp does); should a file
hold bytes that are not UTF-8, they are replaced and "lossy": true is added.
"""
import json
import sys

if sys.version_info[0] != 2:
    sys.stderr.write("read_conf2.py is the Python 2 judge: run it with Python 2.7\n")
    sys.exit(2)

import ConfigParser  # noqa: E402  (Python 2 module name)


class _Text(object):
    def __init__(self):
        self.lossy = False

    def __call__(self, b):
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            self.lossy = True
            return b.decode("utf-8", "replace")


def read(path):
    text = _Text()
    # Pulp 2 (pulp.server.config) reads the file with SafeConfigParser().read(), which opens
    # it in text mode (no newline translation on POSIX) and runs the same _read as readfp.
    parser = ConfigParser.SafeConfigParser()
    try:
        with open(path) as f:
            parser.readfp(f, path)
    except Exception as e:  # ParsingError, MissingSectionHeaderError, IOError
        return {
            "path": path,
            "ok": False,
            "error": {"type": type(e).__name__, "message": text(str(e))},
        }
    sections = {}
    for section in parser.sections():
        keys = {}
        for key in parser.options(section):
            entry = {"raw": text(parser.get(section, key, raw=True))}
            try:
                entry["value"] = text(parser.get(section, key))
            except ConfigParser.Error as e:
                entry["error"] = text("%s: %s" % (type(e).__name__, e))
            keys[text(key)] = entry
        sections[text(section)] = keys
    out = {
        "path": path,
        "ok": True,
        "defaults": dict((text(k), text(v)) for k, v in parser.defaults().items()),
        "sections": sections,
    }
    if text.lossy:
        out["lossy"] = True
    return out


def emit(path):
    sys.stdout.write(json.dumps(read(path), sort_keys=True) + "\n")
    sys.stdout.flush()


def main(argv):
    if argv == ["--batch"]:
        # readline(), not `for line in sys.stdin`: Python 2's file iterator reads ahead and
        # would wait for more input before answering.
        while True:
            line = sys.stdin.readline()
            if not line:
                return 0
            path = line.rstrip("\n")
            if path:
                emit(path)
    if not argv or argv[0].startswith("-"):
        sys.stderr.write(__doc__)
        return 2
    for path in argv:
        emit(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
