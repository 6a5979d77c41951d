//! The start-up plan: everything decided from the command line and the role table before
//! any phase runs — which phases run, with which options, what runs as whom, and how. The
//! defaults live here (and in cli.rs), nowhere else.

use crate::cli::{Cli, Command, Mode};
use crate::error::{Error, Result};
use crate::roles::{self, Role};
use crate::storage::StorageOptions;
use crate::supervise::Forwarding;
use crate::syslog::SyslogOptions;
use crate::{privileges, probe, supervise};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A readiness check answers within this, unless `--attempt-timeout` says otherwise.
const CHECK_ATTEMPT: Duration = Duration::from_millis(800);
/// `check --live`'s one attempt. Pulp's status view reads the database and opens a broker
/// connection per request: a working httpd that is slow for a moment must not be
/// restarted, and a hung one is caught as well by 5 s as by 800 ms. (The database's
/// answer for a Celery role: a slow one is "not judged" at the deadline, never "not live".)
const LIVE_ATTEMPT: Duration = Duration::from_secs(5);
/// One attempt of `wait` and of a role's wait phase.
const WAIT_ATTEMPT: Duration = Duration::from_secs(2);
/// The version file of the image, when it has one (part of the migration fingerprint).
const VERSION_FILE: &str = "/etc/pulp-init/version";
const FINGERPRINT_VAR: &str = "PULP_INIT_MIGRATION_FINGERPRINT";

#[derive(Debug)]
pub struct Startup {
    pub conf: PathBuf,
    pub job: Job,
}

#[derive(Debug)]
pub enum Job {
    Roles,
    Config {
        diff: bool,
    },
    Probe(probe::Options),
    /// `check --live`: is this container's service alive.
    Live(crate::live::Options),
    /// `check --storage`: the write test as the service user.
    CheckStorage(StorageOptions, Option<String>),
    Migrate(Migration),
    Keys(Keys),
    /// The presence keeper (started by a supervising PID 1).
    Presence {
        role: String,
        fingerprint: String,
    },
    Run(Box<Run>),
}

/// `pulp-init keys`.
#[derive(Debug)]
pub enum Keys {
    /// Validate the configured files as `user` reads Pulp's.
    Check {
        options: crate::keys::KeysOptions,
        user: String,
        server_name: Option<String>,
    },
    /// Write a new set into a new or empty directory.
    Out {
        dir: PathBuf,
        fqdn: Option<String>,
        server_name: Option<String>,
    },
}

/// The migrate phase's inputs.
#[derive(Debug, Clone)]
pub struct Migration {
    pub command: Vec<OsString>,
    pub version_file: Option<PathBuf>,
    pub fingerprint: Option<String>,
    pub user: Option<String>,
    pub force: bool,
    pub lease: Duration,
    pub timeout: Duration,
    pub settle: Duration,
    pub allow_older: bool,
    pub syslog: SyslogOptions,
}

/// A run of the service, with the start-up phases before it.
#[derive(Debug)]
pub struct Run {
    pub config: bool,
    /// The probes, with what the role needs (db, broker).
    pub wait: Option<(probe::Options, bool, bool)>,
    pub migrate: Option<Migration>,
    /// Wait until the database is migrated for this image (roles that do not migrate).
    pub gate: Option<Migration>,
    /// The role, for its directories and volume checks.
    pub role: Option<&'static Role>,
    /// The keys phase (every role unless `--skip-keys`).
    pub keys: Option<crate::keys::KeysOptions>,
    pub storage: StorageOptions,
    /// `--user` as given: the owner of Pulp's directories when `--storage-user` is not
    /// (the role's own user only when it is not root: httpd starts as root, writes as apache).
    pub given_user: Option<String>,
    pub syslog: SyslogOptions,
    pub argv: Vec<OsString>,
    pub user: Option<String>,
    pub supervise: bool,
    pub forwarding: Forwarding,
    /// A presence keeper beside the service (supervised roles that use the database):
    /// what the fingerprint is computed from.
    pub presence: Option<Migration>,
}

impl Run {
    /// Whether any start-up phase runs before the service.
    pub fn starts_up(&self) -> bool {
        self.config
            || self.wait.is_some()
            || self.migrate.is_some()
            || self.gate.is_some()
            || self.keys.is_some()
            || (self.role.is_some() && !self.storage.skip_storage)
    }
}

impl Startup {
    pub fn from_cli(cli: Cli) -> Result<Startup> {
        let job = match &cli.command {
            Some(Command::Roles) => Job::Roles,
            Some(Command::Presence {
                pod_role,
                fingerprint,
            }) => Job::Presence {
                role: pod_role.clone(),
                fingerprint: fingerprint.clone(),
            },
            Some(Command::Config { diff }) => Job::Config { diff: *diff },
            Some(Command::Wait) => Job::Probe(probe_options(&cli, false)),
            Some(Command::Check { storage: true, .. }) => {
                Job::CheckStorage(cli.storage.clone(), cli.common.user.clone())
            }
            Some(Command::Check {
                live: true,
                live_role,
                start_period,
                url,
                ..
            }) => Job::Live(crate::live::Options {
                role: live_role.clone(),
                start_period: *start_period,
                attempt_timeout: cli.common.attempt_timeout.unwrap_or(LIVE_ATTEMPT),
                url: url.clone(),
            }),
            Some(Command::Check { .. }) => Job::Probe(probe_options(&cli, true)),
            Some(Command::Migrate { force }) => Job::Migrate(migration(&cli, None, *force)),
            Some(Command::Keys {
                out: Some(dir),
                fqdn,
                server_name,
                ..
            }) => Job::Keys(Keys::Out {
                dir: dir.clone(),
                fqdn: fqdn.clone(),
                server_name: server_name.clone(),
            }),
            Some(Command::Keys { server_name, .. }) => Job::Keys(Keys::Check {
                options: cli.keys.clone(),
                // Pulp's files are read by apache (httpd's WSGI processes) and the workers.
                user: cli
                    .common
                    .user
                    .clone()
                    .unwrap_or_else(|| crate::keys::KEY_GROUP.to_string()),
                server_name: server_name.clone(),
            }),
            None => Job::Run(Box::new(run(&cli)?)),
        };
        Ok(Startup {
            conf: cli.common.conf,
            job,
        })
    }
}

fn run(cli: &Cli) -> Result<Run> {
    let role = cli.role.as_deref().and_then(roles::find);
    let user = cli.common.user.clone().or(role.map(|r| r.user.to_string()));
    let forwarding = Forwarding {
        rewrites: supervise::rewrites(role.map_or(&[], |r| r.rewrites), &cli.rewrites)?,
        group: cli.group,
        grace: cli.grace,
    };
    let argv = command_line(role, &cli.argv)?;
    // A wrong user fails now, not after the probes.
    privileges::decide_quietly(user.as_deref())?;
    let (config, wait, migrate, gate) = match role {
        None => (false, None, None, None),
        Some(r) => (
            !cli.skip_config,
            (!cli.skip_wait).then(|| (probe_options(cli, false), r.needs_db, r.needs_broker)),
            (r.migrates && !cli.skip_migrate).then(|| migration(cli, Some(r.user), false)),
            // httpd's role runs as root, which pulp-manage-db refuses: the gate asks
            // `--dry-run` as beat's user.
            (!r.migrates && !cli.skip_migrate_wait).then(|| migration(cli, None, false)),
        ),
    };
    let supervise = match cli.mode {
        Mode::Supervise => true,
        Mode::Exec => false,
        Mode::Auto => std::process::id() == 1,
    };
    Ok(Run {
        presence: role
            .filter(|r| supervise && r.needs_db && !cli.skip_presence)
            .map(|_| migration(cli, None, false)),
        config,
        wait,
        migrate,
        gate,
        role,
        keys: (role.is_some() && !cli.keys.skip_keys).then(|| cli.keys.clone()),
        storage: cli.storage.clone(),
        given_user: cli.common.user.clone(),
        syslog: cli.syslog.clone(),
        argv,
        user,
        supervise,
        forwarding,
    })
}

/// The role's default argv, or the `-- COMMAND` that replaces it.
fn command_line(role: Option<&Role>, argv: &[OsString]) -> Result<Vec<OsString>> {
    if !argv.is_empty() {
        return Ok(argv.to_vec());
    }
    match role {
        Some(r) => {
            let id = std::env::var("PULP_WORKER_ID").unwrap_or_else(|_| "1".into());
            Ok(r.argv(&id).into_iter().map(OsString::from).collect())
        }
        None => Err(Error::usage(
            "COMMAND",
            "nothing to run; give --role ROLE, `-- COMMAND [ARGS...]`, or a subcommand (see --help)",
        )),
    }
}

fn probe_options(cli: &Cli, check: bool) -> probe::Options {
    let attempt =
        cli.common
            .attempt_timeout
            .unwrap_or(if check { CHECK_ATTEMPT } else { WAIT_ATTEMPT });
    probe::Options {
        timeout: if check { attempt } else { cli.common.timeout },
        attempt_timeout: attempt,
        retry_cap: cli.common.retry_cap,
        single_attempt: check,
    }
}

/// The migrations run as the role's user (`pulp-manage-db` refuses root): `--user`, else
/// the role's, else beat's.
fn migration(cli: &Cli, role_user: Option<&str>, force: bool) -> Migration {
    let default_version = Path::new(VERSION_FILE);
    Migration {
        command: cli
            .common
            .migrate_command
            .split_whitespace()
            .map(Into::into)
            .collect(),
        version_file: cli.common.version_file.clone().or_else(|| {
            default_version
                .exists()
                .then(|| default_version.to_path_buf())
        }),
        fingerprint: std::env::var(FINGERPRINT_VAR).ok(),
        user: cli
            .common
            .user
            .clone()
            .or(role_user.map(str::to_string))
            .or(roles::find("beat").map(|r| r.user.to_string())),
        force,
        lease: cli.common.lock_lease,
        timeout: cli.common.migrate_timeout,
        settle: cli.common.migrate_settle,
        allow_older: cli.common.allow_older_image,
        syslog: cli.syslog.clone(),
    }
}
