//! pulp-init: entrypoint and PID 1 for Pulp 2 containers. `main` only wires the phases.

mod cli;
mod conf;
mod error;
mod settings;

use clap::Parser;
use cli::{Cli, Command};
use error::{Error, Result};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            log::error!("{e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(70))
        }
    }
}

fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::new().filter_or("PULP_INIT_LOG", "info"))
        .format(|buf, record| {
            let level = record.level().as_str().to_lowercase();
            writeln!(buf, "pulp-init: {level}: {}", record.args())
        })
        .init();
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Some(Command::Config { diff }) => {
            config_phase(&cli.common.conf, diff)?;
            Ok(0)
        }
        None => {
            if !cli.skip_config {
                config_phase(&cli.common.conf, false)?;
            }
            let Some((program, args)) = cli.argv.split_first() else {
                return Err(Error::env(
                    "COMMAND",
                    "nothing to run; give `-- COMMAND [ARGS...]` or a subcommand (see --help)",
                ));
            };
            let err = std::process::Command::new(program).args(args).exec();
            Err(Error::Internal(format!(
                "cannot run {}: {err}",
                program.to_string_lossy()
            )))
        }
    }
}

/// Reads the environment, edits server.conf (or prints the diff), logs each change.
fn config_phase(path: &std::path::Path, diff_only: bool) -> Result<()> {
    let env = settings::Env::from_vars(std::env::vars_os(), |p| std::fs::read_to_string(p))?;
    let edits = settings::conf_edits(&env)?;
    let plan = conf::plan(path, &edits)?;
    if diff_only {
        print!("{}", plan.diff());
        return Ok(());
    }
    let method = plan.commit()?;
    for c in &plan.changes {
        let source = edits
            .iter()
            .find(|e| e.section == c.section && e.key.eq_ignore_ascii_case(&c.key))
            .map(|e| e.source.as_str())
            .unwrap_or("");
        log::info!(
            "set [{}] {} = {} (from {source})",
            c.section,
            c.key,
            plan.shown(&c.key, &c.new)
        );
    }
    match method {
        None => log::info!("{}: up to date, not written", path.display()),
        Some(conf::Method::Renamed) => log::info!("{}: written", path.display()),
        Some(conf::Method::InPlace(reason)) => log::info!(
            "{}: rewritten in place ({}) from a complete fsynced copy",
            path.display(),
            match reason {
                conf::InPlaceReason::MountPoint => "it is a mount point, rename cannot replace it",
                conf::InPlaceReason::OwnerNotPreservable => "a new file could not keep its owner",
            }
        ),
    }
    Ok(())
}
