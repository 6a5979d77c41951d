//! `check --live`: one attempt at telling whether this container's service is alive, for
//! Docker's HEALTHCHECK and Kubernetes' livenessProbe. The Celery roles by their heartbeat
//! record in Pulp's database, httpd by Pulp's status URL. Only what a restart can mend is
//! "not live": an unreachable database is not judged (readiness, `check`, reports it), the
//! broker is not touched at all, and a service still starting is given its start period.

mod celery;
mod http;
pub mod pid1;

pub use http::Url;

use crate::conf;
use crate::db::MongoTarget;
use crate::error::{Error, Result};
use crate::roles::{self, Role};
use crate::time::human;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Options {
    /// `--role` (or PULP_INIT_ROLE) given to `check`; else PID 1's.
    pub role: Option<String>,
    pub start_period: Duration,
    pub attempt_timeout: Duration,
    pub url: Option<Url>,
}

/// What `check --live` prints (one line, stdout) and exits with.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Live(String),
    Starting(String),
    NotJudged(String),
    NotLive(String),
}

impl Verdict {
    /// Docker's and Kubernetes' convention: 0 healthy, 1 unhealthy.
    pub fn exit_code(&self) -> i32 {
        match self {
            Verdict::NotLive(_) => 1,
            _ => 0,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Live(s) => write!(f, "live: {s}"),
            Verdict::Starting(s) => write!(f, "starting: {s}"),
            Verdict::NotJudged(s) => write!(f, "not judged: {s}"),
            Verdict::NotLive(s) => write!(f, "not live: {s}"),
        }
    }
}

/// How long the service has run, against its start period.
pub struct Within {
    /// None: unknown (no /proc, no service yet): taken as just started.
    age: Option<Duration>,
    period: Duration,
}

impl Within {
    /// A failure seen: "starting" within the start period, "not live" after it.
    fn verdict(&self, what: String) -> Verdict {
        match self.age {
            Some(age) if age >= self.period => Verdict::NotLive(format!(
                "{what}; the service started {} ago (start period {})",
                human(age),
                human(self.period)
            )),
            Some(age) => Verdict::Starting(format!(
                "{what}; the service started {} ago, within its start period {}",
                human(age),
                human(self.period)
            )),
            None => Verdict::Starting(format!("{what}; the service has not started yet")),
        }
    }
}

/// One attempt: the verdict, or an error for what no verdict can be given on (no role
/// known, server.conf unreadable).
pub fn judge(conf_path: &Path, opts: &Options) -> Result<Verdict> {
    let (pid1_argv, age) = match pid1::read() {
        pid1::Pid1::StartingUp => {
            return Ok(Verdict::Starting(
                "pulp-init (PID 1) is in its start-up phases (dependencies, schema gate, migrations); the service does not run yet".into(),
            ))
        }
        pid1::Pid1::Supervising { argv, service_age } => (Some(argv), service_age),
        pid1::Pid1::Other { age, .. } => (None, age),
    };
    let pid1_cli = pid1_argv.as_deref().and_then(parse_pid1);
    let role = role(opts, pid1_cli.as_ref())?;
    let within = Within {
        age,
        period: opts.start_period,
    };
    if role.name == "apache" {
        return Ok(http::judge(
            opts.url.as_ref(),
            opts.attempt_timeout,
            &within,
        ));
    }
    let argv: Vec<OsString> = match pid1_cli.as_ref().filter(|c| !c.argv.is_empty()) {
        Some(c) => c.argv.clone(),
        None => role
            .argv(&std::env::var("PULP_WORKER_ID").unwrap_or_else(|_| "1".into()))
            .into_iter()
            .map(OsString::from)
            .collect(),
    };
    let name = celery::record_name(role.name, &argv, &celery::host_name());
    let values = conf::read_values(conf_path)?;
    Ok(celery::judge(
        &MongoTarget::from_conf(&values)?,
        &name,
        values.worker_timeout()?,
        opts.attempt_timeout,
        &within,
    ))
}

/// PID 1's command line read with pulp-init's own parser (and this process's environment,
/// which `docker exec` and the kubelet give from the container's).
fn parse_pid1(argv: &[OsString]) -> Option<crate::cli::Cli> {
    use clap::Parser;
    crate::cli::Cli::try_parse_from(argv).ok()
}

fn role(opts: &Options, pid1: Option<&crate::cli::Cli>) -> Result<&'static Role> {
    let name = opts
        .role
        .clone()
        .or_else(|| pid1.and_then(|c| c.role.clone()))
        .ok_or_else(|| {
            Error::usage(
                "--role",
                "no role known: PID 1 is not pulp-init with --role; give `check --live --role ROLE` (or PULP_INIT_ROLE)",
            )
        })?;
    roles::find(&name).ok_or_else(|| Error::usage("--role", format!("{name:?} is not a role")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_lines_and_codes() {
        let w = Within {
            age: Some(Duration::from_secs(70)),
            period: Duration::from_secs(60),
        };
        let v = w.verdict("x has no record".into());
        assert_eq!(v.exit_code(), 1);
        assert_eq!(
            v.to_string(),
            "not live: x has no record; the service started 70.0 s ago (start period 60.0 s)"
        );
        let w = Within {
            age: Some(Duration::from_secs(5)),
            period: Duration::from_secs(60),
        };
        let v = w.verdict("x has no record".into());
        assert_eq!(v.exit_code(), 0);
        assert!(v
            .to_string()
            .starts_with("starting: x has no record; the service started 5.0 s ago"));
        assert_eq!(Verdict::NotJudged("d".into()).exit_code(), 0);
        assert_eq!(Verdict::Live("d".into()).exit_code(), 0);
    }

    #[test]
    fn the_role_from_check_wins_over_pid1s() {
        use clap::Parser;
        let pid1 = crate::cli::Cli::try_parse_from(["pulp-init", "--role", "beat"]).unwrap();
        let mut opts = Options {
            role: None,
            start_period: Duration::ZERO,
            attempt_timeout: Duration::from_secs(1),
            url: None,
        };
        assert_eq!(role(&opts, Some(&pid1)).unwrap().name, "beat");
        opts.role = Some("worker".into());
        assert_eq!(role(&opts, Some(&pid1)).unwrap().name, "worker");
        opts.role = None;
        assert_eq!(role(&opts, None).unwrap_err().exit_code(), 64);
    }
}
