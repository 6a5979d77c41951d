//! The command line (clap): every option also has an environment variable.

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

const ENV_HELP: &str = "\
Environment -> server.conf (a variable that is not set changes nothing; set but empty is an error):
  PULP_SERVER_NAME                 [server] server_name
  SERVICE_HOST                     fallback host for DB_SERVICE_HOST and MSG_SERVICE_HOST
  DB_SERVICE_HOST                  [database] seeds = host:port[,host:port...]; hosts may be
                                   names, IPv4 or [IPv6]          (default: SERVICE_HOST)
  DB_SERVICE_PORT                  port for seeds without one     (default: 27017)
  MSG_SERVICE_HOST                 [messaging] url and [tasks] broker_url
                                                                  (default: SERVICE_HOST)
  MSG_SERVICE_PORT                 broker port                    (default: 5672)
  MSG_SERVICE_USER                 broker user                    (default: guest)
  MSG_SERVICE_PASSWORD             broker password (rabbitmq with user guest: guest)
  MSG_SERVICE_TYPE                 qpid -> qpid://user@host:port/;
                                   rabbitmq -> amqp://user:pass@host:port/vhost and
                                   [messaging] transport: rabbitmq (default: qpid)
  MSG_SERVICE_VHOST                vhost of the amqp URL          (default: /)
  PULP__<SECTION>__<KEY>           any [section] key, e.g. PULP__DATABASE__REPLICA_SET;
                                   wins over a composed value
  <ANY>_FILE                       read <ANY>'s value from that file (Docker/Kubernetes
                                   secrets: a regular file of at most 64 KiB); one final
                                   newline is dropped
  PULP_INIT_LOG                    log level: error, warn, info, debug (default: info)
  PULP_WORKER_ID                   the N in the worker's name reserved_resource_worker-N@%h
                                   (default: 1)
  PULP_INIT_MIGRATION_FINGERPRINT  identifies the installed Pulp for the migration record
                                   and the schema gate (default: a digest of the version
                                   file; without one, `<command> --dry-run` decides)

Exit codes: the service's own (128+N if killed by signal N); 64 bad command line or
environment value; 69 a dependency was not ready by the deadline; 70 internal error;
73 server.conf could not be written; 75 migration lock, live workers or schema gate
not through by the deadline, or the database migrated for a newer image (rollback);
`check --live`: 0 live, starting or not judged, 1 not live (one line on stdout);
77 permission (privilege drop, volume); 78 server.conf missing, not a regular file, or unreadable,
or a key or certificate missing or wrong (`keys --check`: one line each); `keys --out`:
70 generation failed, 73 DIR not new or empty, or not written.";

/// Entrypoint and PID 1 for Pulp 2 containers.
///
/// With --role: applies the environment to server.conf, waits for MongoDB and the broker,
/// runs the migrations once (beat), then runs the role's command (or COMMAND after `--`) as
/// the role's user. Without a role: runs COMMAND, like tini. As PID 1 pulp-init supervises
/// the command (forwards signals, reaps zombies, exits with its status); otherwise it execs it.
#[derive(Debug, Parser)]
#[command(
    name = "pulp-init",
    version,
    after_help = ENV_HELP,
    args_conflicts_with_subcommands = true,
    args_override_self = true
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,

    /// The Pulp role to run (see `pulp-init roles`).
    #[arg(long, env = "PULP_INIT_ROLE", value_parser = clap::builder::PossibleValuesParser::new(crate::roles::names()))]
    pub role: Option<String>,

    /// Skip the server.conf phase.
    #[arg(long, env = "PULP_INIT_SKIP_CONFIG", value_parser = BoolishValueParser::new())]
    pub skip_config: bool,

    /// Skip waiting for MongoDB and the broker.
    #[arg(long, env = "PULP_INIT_SKIP_WAIT", value_parser = BoolishValueParser::new())]
    pub skip_wait: bool,

    /// Skip the migrations (beat).
    #[arg(long, env = "PULP_INIT_SKIP_MIGRATE", value_parser = BoolishValueParser::new())]
    pub skip_migrate: bool,

    /// Do not wait for the database to be migrated for this image (roles other than beat).
    #[arg(long, env = "PULP_INIT_SKIP_MIGRATE_WAIT", value_parser = BoolishValueParser::new())]
    pub skip_migrate_wait: bool,

    /// supervise: stay PID 1, forward signals, reap zombies; exec: become the service;
    /// auto: supervise when PID 1, exec otherwise.
    #[arg(long, env = "PULP_INIT_MODE", value_enum, default_value = "auto")]
    pub mode: Mode,

    /// Do not keep this pod's presence record in the Pulp database (by which a beat of a
    /// later image waits for this pod before migrating).
    #[arg(long, env = "PULP_INIT_SKIP_PRESENCE", value_parser = BoolishValueParser::new())]
    pub skip_presence: bool,

    /// Send forwarded signals to the service's whole process group, not only to it.
    #[arg(long, env = "PULP_INIT_GROUP", value_parser = BoolishValueParser::new())]
    pub group: bool,

    /// Rewrite a forwarded signal, e.g. TERM:QUIT (repeatable; wins over the role's).
    #[arg(
        long = "rewrite",
        env = "PULP_INIT_REWRITE",
        value_delimiter = ',',
        value_name = "FROM:TO"
    )]
    pub rewrites: Vec<String>,

    /// After forwarding SIGTERM, SIGKILL the service if it is still running this long after.
    #[arg(long, env = "PULP_INIT_GRACE", value_parser = crate::time::parse_duration, value_name = "DURATION")]
    pub grace: Option<Duration>,

    #[command(flatten)]
    pub storage: crate::storage::StorageOptions,

    #[command(flatten)]
    pub syslog: crate::syslog::SyslogOptions,

    #[command(flatten)]
    pub keys: crate::keys::KeysOptions,

    #[command(subcommand)]
    pub command: Option<Command>,

    /// The command to run instead of the role's (argv, never a shell string).
    #[arg(last = true, value_name = "COMMAND")]
    pub argv: Vec<OsString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Auto,
    Supervise,
    Exec,
}

#[derive(Debug, Args)]
pub struct Common {
    /// Path of Pulp's server.conf.
    #[arg(
        long,
        global = true,
        env = "PULP_SERVER_CONF",
        default_value = "/etc/pulp/server.conf",
        value_name = "PATH"
    )]
    pub conf: PathBuf,

    /// Overall deadline for the dependencies (e.g. 60s, 500ms, 2m).
    #[arg(long, global = true, env = "PULP_INIT_TIMEOUT", default_value = "60s", value_parser = crate::time::parse_duration, value_name = "DURATION")]
    pub timeout: Duration,

    /// Longest time one probe attempt may take [default: 2s; 800ms for check; 5s for
    /// check --live].
    #[arg(long, global = true, env = "PULP_INIT_ATTEMPT_TIMEOUT", value_parser = crate::time::parse_duration, value_name = "DURATION")]
    pub attempt_timeout: Option<Duration>,

    /// Run the service (and the migrations) as this user, a name or uid [default: the
    /// role's user; apache for `migrate`].
    #[arg(long, global = true, env = "PULP_INIT_USER", value_name = "NAME")]
    pub user: Option<String>,

    /// The migration command (argv split on white space; no shell).
    #[arg(
        long,
        global = true,
        env = "PULP_INIT_MIGRATE_COMMAND",
        default_value = "pulp-manage-db",
        value_parser = command_words,
        value_name = "COMMAND"
    )]
    pub migrate_command: String,

    /// A file that identifies the installed Pulp, part of the migration fingerprint
    /// [default: /etc/pulp-init/version when present].
    #[arg(
        long,
        global = true,
        env = "PULP_INIT_VERSION_FILE",
        value_name = "PATH"
    )]
    pub version_file: Option<PathBuf>,

    /// Deadline for everything around the migrations: the lock, Pulp processes of the
    /// previous deployment still online (beat), the schema gate (other roles).
    #[arg(long, global = true, env = "PULP_INIT_MIGRATE_TIMEOUT", default_value = "1h", value_parser = crate::time::parse_duration, value_name = "DURATION")]
    pub migrate_timeout: Duration,

    /// After the last Pulp process of the previous deployment went offline, wait this much
    /// more before migrating (beat): a worker removes its heartbeat record while shutting
    /// down, before its process has ended. 0s: none.
    #[arg(long, global = true, env = "PULP_INIT_MIGRATE_SETTLE", default_value = "3s", value_parser = crate::time::parse_duration, value_name = "DURATION")]
    pub migrate_settle: Duration,

    /// Start (beat, and the schema gate of the other roles) although the database was
    /// migrated for a newer image than this one: a rollback on a schema that only goes
    /// forward. Without it, exit 75 naming both images.
    #[arg(long, global = true, env = "PULP_INIT_ALLOW_OLDER_IMAGE", value_parser = BoolishValueParser::new())]
    pub allow_older_image: bool,

    /// Lease of the migration lock; renewed while the migration runs.
    #[arg(long, global = true, env = "PULP_INIT_LOCK_LEASE", default_value = "30s", value_parser = crate::time::parse_lease, value_name = "DURATION")]
    pub lock_lease: Duration,

    /// Longest pause between two probe attempts (exponential backoff with full jitter).
    #[arg(long, global = true, env = "PULP_INIT_RETRY_CAP", default_value = "1s", value_parser = crate::time::parse_duration, value_name = "DURATION")]
    pub retry_cap: Duration,
}

/// A command given as one string (split on white space): at least one word.
fn command_words(text: &str) -> Result<String, String> {
    if text.split_whitespace().next().is_none() {
        return Err("is empty or only white space; give the command, e.g. pulp-manage-db".into());
    }
    Ok(text.to_string())
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the environment to server.conf (or show the diff).
    #[command(after_help = ENV_HELP)]
    Config {
        /// Print a unified diff of what would change and write nothing.
        #[arg(long, visible_alias = "dry-run")]
        diff: bool,
    },
    /// Wait until MongoDB and the broker in server.conf answer; exit 0, or 69 at the deadline.
    Wait,
    /// One attempt each at MongoDB and the broker; exit 0 or 69 (for readiness probes).
    ///
    /// --live instead (for Docker's HEALTHCHECK and Kubernetes' livenessProbe): one attempt
    /// at this container's service, one line on stdout, exit 0 (live, starting, or not
    /// judged) or 1 (not live). Celery roles: the process's record in Pulp's workers
    /// collection has a heartbeat younger than [tasks] worker_timeout by the database's
    /// clock; an unreachable database is not judged (exit 0), the broker is not contacted.
    /// apache: Pulp's status URL answers 2xx-4xx (HTTPS on localhost:443, certificate not
    /// verified; HTTP on port 80 when nothing listens on 443). While pulp-init is in its
    /// start-up phases, and for --start-period after the service started, a failure is
    /// "starting" (exit 0).
    Check {
        /// Instead: the write test of Pulp's directories as the service user; exit 0 or 77.
        #[arg(long, conflicts_with = "live")]
        storage: bool,
        /// Instead: is this container's service alive (see above); exit 0 or 1.
        #[arg(long)]
        live: bool,
        /// With --live: the role to judge [default: PID 1's --role].
        #[arg(long = "role", env = "PULP_INIT_ROLE", value_name = "ROLE", value_parser = clap::builder::PossibleValuesParser::new(crate::roles::names()))]
        live_role: Option<String>,
        /// With --live: after the service started (not the container: the start-up phases
        /// come first and count as starting), how long a failure is "starting" (exit 0).
        #[arg(long, env = "PULP_INIT_START_PERIOD", default_value = "60s", value_parser = crate::time::parse_duration, value_name = "DURATION")]
        start_period: Duration,
        /// With --live, apache: the URL to ask, http:// or https:// [default:
        /// https://localhost:443/pulp/api/v2/status/, then http://localhost:80/… when
        /// nothing listens on 443].
        #[arg(long, env = "PULP_INIT_LIVE_URL", value_name = "URL", value_parser = crate::live::Url::parse)]
        url: Option<crate::live::Url>,
    },
    /// Run the migrations once per installed Pulp, under a lock in MongoDB.
    Migrate {
        /// Run them even when this fingerprint is recorded as done.
        #[arg(long)]
        force: bool,
    },
    /// Pulp's keys and certificates: check the configured files, or write a new set.
    ///
    /// --check validates rsa_key/rsa_pub ([authentication]), cakey/cacert ([security]) and
    /// httpd's TLS pair (--tls-cert/--tls-key): PEM, key matches, dates, server_name, signed
    /// by the CA, modes, readable by --user (default apache); exit 0 or 78, one line per
    /// problem. --out DIR writes ca.crt, ca.key, rsa.key, rsa_pub.key, tls.crt, tls.key (as
    /// pulp-gen-ca-certificate and pulp-gen-key-pair make them, the TLS pair signed by the
    /// CA) for `kubectl create secret generic NAME --from-file=DIR`.
    #[command(group(clap::ArgGroup::new("action").required(true).args(["check", "out"])))]
    Keys {
        /// Validate the configured files; exit 0, or 78 with one line per problem.
        #[arg(long)]
        check: bool,
        /// Write a new set into DIR (created; an existing DIR must be empty).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The CA's common name [default: the host's FQDN].
        #[arg(long, value_name = "NAME", requires = "out")]
        fqdn: Option<String>,
        /// The name the TLS certificate is for (and must name, with --check) [default:
        /// PULP_SERVER_NAME, else [server] server_name, else the FQDN].
        #[arg(long, env = "PULP_SERVER_NAME", value_name = "NAME")]
        server_name: Option<String>,
    },
    /// Print the role table.
    Roles,
    /// Internal: keeps this pod's presence record fresh until SIGTERM (started by PID 1).
    #[command(hide = true)]
    Presence {
        #[arg(long, value_name = "ROLE")]
        pod_role: String,
        #[arg(long, value_name = "FINGERPRINT")]
        fingerprint: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
