//! Private namespaces for the logs and storage tests: pulp-init as PID 1 with its own
//! /dev (so /dev/log is created and removed where no host syslog can be touched).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

/// Mounts a fresh /dev (a tmpfs, or `$PRIVATE_DEV` bind-mounted when set, so the test
/// can look into it afterwards) with null, zero, random, urandom and full bound in, then
/// execs the rest of the arguments.
const PRIVATE_DEV: &str = r#"set -e
d=$(mktemp -d)
if [ -n "$PRIVATE_DEV" ]; then mount --bind "$PRIVATE_DEV" "$d"; else mount -t tmpfs -o mode=755 devtmp "$d"; fi
for n in null zero random urandom full; do [ -e "$d/$n" ] || touch "$d/$n"; mount --bind "/dev/$n" "$d/$n"; done
mkdir -p "$d/shm"; chmod 1777 "$d/shm"
mount --move "$d" /dev
unset PRIVATE_DEV
exec "$@""#;

/// `unshare --pid --mount`, a private /dev, then `prefix… pulp-init ARGS` as PID 1 (the
/// prefix is e.g. `setpriv …`, which execs). Clean environment, PATH kept.
pub fn pid1_private_dev(prefix: &[&str], args: &[&str], dev: Option<&Path>) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", "--mount", "--kill-child"])
        .args(["sh", "-c", PRIVATE_DEV, "sh"])
        .args(prefix)
        .arg(crate::common::BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // The keys phase would look in the host's /etc/pki (tests/keys.rs covers it).
        .env("PULP_INIT_SKIP_KEYS", "true");
    if let Some(d) = dev {
        c.env("PRIVATE_DEV", d);
    }
    c
}
