"""Stand-in for the `selinux` binding Pulp imports at module level (publish_step.py): none
exists for Python 2 on Debian. SELinux is off in these containers."""


def is_selinux_enabled():
    return 0


def restorecon(path, recursive=False, verbose=False):
    pass
