//! The command line (clap): every option also has an environment variable.

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

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
                                   secrets); a final newline is dropped
  PULP_INIT_LOG                    log level: error, warn, info, debug (default: info)

Exit codes: the service's own (128+N if killed by signal N); 64 bad command line or
environment value; 69 a dependency was not ready by the deadline; 70 internal error;
73 server.conf could not be written; 75 migration lock not had by the deadline;
77 permission (privilege drop, volume); 78 server.conf missing or unreadable.";

/// Entrypoint and PID 1 for Pulp 2 containers.
///
/// Applies the environment to server.conf, then runs COMMAND (after `--`).
#[derive(Debug, Parser)]
#[command(
    name = "pulp-init",
    version,
    after_help = ENV_HELP,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,

    /// Skip the server.conf phase.
    #[arg(long, env = "PULP_INIT_SKIP_CONFIG")]
    pub skip_config: bool,

    #[command(subcommand)]
    pub command: Option<Command>,

    /// The command to run after the phases (argv, never a shell string).
    #[arg(last = true, value_name = "COMMAND")]
    pub argv: Vec<OsString>,
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
