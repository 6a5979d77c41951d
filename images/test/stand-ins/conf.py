"""The effective server.conf, read as Pulp reads it (the stand-ins connect where Pulp would)."""
import configparser
import os


def get(section, key, default):
    conf = configparser.RawConfigParser(strict=False, interpolation=None)
    conf.read(os.environ.get("PULP_SERVER_CONF", "/etc/pulp/server.conf"))
    return conf.get(section, key, fallback=default)
