"""The effective server.conf, read as Pulp reads it (SafeConfigParser: `%%` is `%`, ` ;`
starts an inline comment), so the stand-ins connect where Pulp would."""
import configparser
import os


def get(section, key, default):
    conf = configparser.ConfigParser(inline_comment_prefixes=(";",), strict=False)
    conf.read(os.environ.get("PULP_SERVER_CONF", "/etc/pulp/server.conf"))
    return conf.get(section, key, fallback=default)
