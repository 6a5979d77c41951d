"""Reads server.conf exactly as Pulp does and prints every value as JSON.

Usage: read_conf.py PATH  ->  {"section": {"key": "value", ...}, ...}
Pulp 2 reads server.conf with SafeConfigParser; on Python 3 that is ConfigParser with
';' inline comments and non-strict duplicates, and the default %-interpolation.
"""
import configparser
import json
import sys

parser = configparser.ConfigParser(inline_comment_prefixes=(";",), strict=False)
with open(sys.argv[1], encoding="utf-8") as f:
    parser.read_file(f)
print(json.dumps({s: dict(parser.items(s)) for s in parser.sections()}, ensure_ascii=False))
