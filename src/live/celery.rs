//! The Celery roles' liveness: this container's record in Pulp's `workers` collection has a
//! heartbeat younger than `[tasks] worker_timeout`, by the database server's clock — what
//! Pulp itself goes by to call a process online.

use super::{Verdict, Within};
use crate::db::MongoTarget;
use crate::migrate::Store;
use crate::time::human;
use std::ffi::OsString;
use std::time::{Duration, Instant};

/// The record's name: beat's is `scheduler@` + the host name (Pulp's scheduler.py,
/// `platform.node()`); a worker's is its node name as Celery expands `-n`.
pub fn record_name(role: &str, argv: &[OsString], host: &str) -> String {
    if role == "beat" {
        return format!("scheduler@{host}");
    }
    let given = node_option(argv).unwrap_or_default();
    expand(&default_nodename(&given), host)
}

/// The value of the last `-n`/`--hostname` in argv, in argparse's forms (Celery 4's
/// parser): `-n X`, `-nX`, `-n=X`, `--hostname X`, `--hostname=X`.
fn node_option(argv: &[OsString]) -> Option<String> {
    let mut found = None;
    let mut args = argv.iter().map(|a| a.to_string_lossy());
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if arg == "-n" || arg == "--hostname" {
            found = args.next().map(|v| v.into_owned());
        } else if let Some(v) = arg.strip_prefix("--hostname=") {
            found = Some(v.to_string());
        } else if let Some(v) = arg.strip_prefix("-n").filter(|_| !arg.starts_with("--")) {
            found = Some(v.strip_prefix('=').unwrap_or(v).to_string());
        }
    }
    found
}

/// Celery's `default_nodename`: a name without `@` is the host part of `celery@…`; none at
/// all is `celery@%h`.
fn default_nodename(given: &str) -> String {
    match given.split_once('@') {
        Some((name, host)) => format!(
            "{}@{}",
            if name.is_empty() { "celery" } else { name },
            if host.is_empty() { "%h" } else { host }
        ),
        None if given.is_empty() => "celery@%h".into(),
        None => format!("celery@{given}"),
    }
}

/// Celery's `host_format`: `%h` the host name, `%n` its part before the first dot, `%d`
/// the rest, `%%` a percent sign; anything else is left as it is.
fn expand(name: &str, host: &str) -> String {
    let (short, domain) = host.split_once('.').unwrap_or((host, ""));
    let mut out = String::new();
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(host),
            Some('n') => out.push_str(short),
            Some('d') => out.push_str(domain),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// This UTS namespace's host name: Celery's `%h`, Python's `platform.node()`.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// What the database said, or why it could not be asked.
enum Seen {
    /// The heartbeat's age by the server's clock (negative: ahead of it); None: no record.
    Age(Option<i64>),
    Unreachable(String),
}

/// One attempt, within `attempt`: the server's clock and the record.
fn ask(target: &MongoTarget, name: &str, attempt: Duration) -> Seen {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Seen::Unreachable(format!("cannot start a runtime: {e}")),
    };
    let started = Instant::now();
    let seen = rt.block_on(async {
        let work = async {
            // The driver says "nothing listening" only after its whole server selection
            // timeout; a plain connect tells at once.
            let mut reachable = None;
            for (host, port) in &target.seeds {
                match crate::probe::connect(host, *port).await {
                    Ok(_) => {
                        reachable = None;
                        break;
                    }
                    Err(seen) => {
                        reachable.get_or_insert(seen.to_string());
                    }
                }
            }
            if let Some(why) = reachable {
                return Seen::Unreachable(why);
            }
            let left = attempt.saturating_sub(started.elapsed());
            let client = match target.client(left.mul_f64(0.8)) {
                Ok(c) => c,
                Err(e) => return Seen::Unreachable(crate::probe::describe_db_error(&e)),
            };
            let store = Store::new(client.database(&target.name));
            let seen = match store.heartbeat_age(name).await {
                Ok(age) => Seen::Age(age),
                Err(crate::error::Error::Database { what, source }) => Seen::Unreachable(format!(
                    "{what}: {}",
                    crate::probe::describe_db_error(&source)
                )),
                Err(e) => Seen::Unreachable(first_line(&e.to_string())),
            };
            let _ = tokio::time::timeout(
                Duration::from_millis(100),
                client.shutdown().immediate(true),
            )
            .await;
            seen
        };
        match tokio::time::timeout(attempt, work).await {
            Ok(seen) => seen,
            Err(_) => Seen::Unreachable(format!("no answer within {}", human(attempt))),
        }
    });
    rt.shutdown_timeout(Duration::from_millis(50));
    seen
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// The verdict on the process named `name`.
pub fn judge(
    target: &MongoTarget,
    name: &str,
    worker_timeout: Duration,
    attempt: Duration,
    within: &Within,
) -> Verdict {
    let timeout_ms = i64::try_from(worker_timeout.as_millis()).unwrap_or(i64::MAX);
    let clock = format!(
        "by the database's clock (worker_timeout {})",
        human(worker_timeout)
    );
    match ask(target, name, attempt) {
        Seen::Unreachable(why) => Verdict::NotJudged(format!(
            "database unreachable ({why}), so {name} is not judged; readiness (`check`) reports it"
        )),
        Seen::Age(Some(age)) if age < -timeout_ms => Verdict::NotJudged(format!(
            "{name} heartbeat {} ahead of the database's clock, more than worker_timeout {} (clock skew): not judged",
            human(Duration::from_millis(age.unsigned_abs())),
            human(worker_timeout)
        )),
        Seen::Age(Some(age)) if age < timeout_ms => Verdict::Live(format!(
            "{name} heartbeat {} ago {clock}",
            human(Duration::from_millis(u64::try_from(age).unwrap_or(0)))
        )),
        Seen::Age(Some(age)) => {
            let what = format!(
                "{name} heartbeat {} ago {clock}",
                human(Duration::from_millis(u64::try_from(age).unwrap_or(0)))
            );
            within.verdict(what)
        }
        Seen::Age(None) => within.verdict(format!("{name} has no record in Pulp's workers collection")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(role: &str, args: &[&str], host: &str) -> String {
        let argv: Vec<OsString> = args.iter().map(OsString::from).collect();
        record_name(role, &argv, host)
    }

    #[test]
    fn the_roles_names_as_celery_expands_them() {
        let h = "pod-7.pulp.svc";
        assert_eq!(
            name(
                "worker",
                &["celery", "worker", "-n", "reserved_resource_worker-2@%h"],
                h
            ),
            "reserved_resource_worker-2@pod-7.pulp.svc"
        );
        assert_eq!(
            name(
                "resource_manager",
                &["celery", "worker", "-n", "resource_manager@%h"],
                h
            ),
            "resource_manager@pod-7.pulp.svc"
        );
        // Beat goes by platform.node(), whatever its command says.
        assert_eq!(
            name("beat", &["celery", "beat", "-n", "x@y"], h),
            "scheduler@pod-7.pulp.svc"
        );
    }

    #[test]
    fn percent_keys() {
        let h = "pod-7.pulp.svc";
        assert_eq!(expand("w@%n", h), "w@pod-7");
        assert_eq!(expand("w@%d", h), "w@pulp.svc");
        assert_eq!(expand("w%%h@%h", h), "w%h@pod-7.pulp.svc");
        assert_eq!(expand("w@%d", "plain"), "w@");
        assert_eq!(expand("w@%x%", "plain"), "w@%x%");
    }

    #[test]
    fn names_without_an_at_or_without_n() {
        let h = "host.example";
        assert_eq!(
            name("worker", &["celery", "worker"], h),
            "celery@host.example"
        );
        assert_eq!(
            name("worker", &["celery", "worker", "-n", "%n"], h),
            "celery@host"
        );
        assert_eq!(
            name("worker", &["celery", "worker", "-n", "w1@"], h),
            "w1@host.example"
        );
    }

    #[test]
    fn option_forms() {
        let h = "h";
        for args in [
            &["celery", "worker", "--hostname", "w@%h"][..],
            &["celery", "worker", "--hostname=w@%h"],
            &["celery", "worker", "-n=w@%h"],
            &["celery", "worker", "-nw@%h"],
            &["celery", "worker", "-n", "first@%h", "-n", "w@%h"],
        ] {
            assert_eq!(name("worker", args, h), "w@h", "{args:?}");
        }
        // Not an -n: another long option, or past `--`.
        assert_eq!(
            name("worker", &["celery", "worker", "--nope=x"], h),
            "celery@h"
        );
        assert_eq!(
            name("worker", &["celery", "--", "-n", "w@%h"], h),
            "celery@h"
        );
    }
}
