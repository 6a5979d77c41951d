//! pulp-init: entrypoint and PID 1 for Pulp 2 containers. `main` only wires the phases.
#![deny(unsafe_code)]

mod cli;
mod conf;
mod error;
mod migrate;
mod privileges;
mod probe;
mod roles;
mod run;
mod settings;
mod storage;
mod supervise;
mod sys;
mod syslog;

use clap::Parser;
use cli::{Cli, Command};
use error::Result;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    // Before anything else, and before any thread exists: every thread inherits this mask,
    // so no signal is lost or handled by a runtime thread while the phases run.
    let original_mask = match sys::block(&sys::SigSet::all_async()) {
        Ok(m) => run::original_mask(m),
        Err(e) => {
            eprintln!("pulp-init: error: cannot block signals: {e}");
            return ExitCode::from(70);
        }
    };
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 64 } else { 0 });
        }
    };
    init_logging();
    let code = match run(cli, &original_mask) {
        Ok(code) => code,
        Err(e) => {
            for line in e.to_string().lines() {
                log::error!("{line}");
            }
            e.exit_code()
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(70))
}

fn init_logging() {
    // A bare level applies to pulp-init's own lines only: the drivers' logs are noisy
    // and not reviewed for secrets. `module=level` directives are taken as given.
    let spec = std::env::var("PULP_INIT_LOG").unwrap_or_else(|_| "info".into());
    let names_us_or_all = spec.split(',').any(|d| {
        let d = d.trim();
        !d.contains('=') || d.starts_with("pulp_init")
    });
    let spec = if !spec.contains('=') {
        format!("pulp_init={spec}")
    } else if names_us_or_all {
        spec
    } else {
        // `lapin=trace` asks for more from lapin, not for silence from pulp-init.
        format!("pulp_init=info,{spec}")
    };
    env_logger::Builder::new()
        .parse_filters(&spec)
        .format(|buf, record| {
            let level = record.level().as_str().to_lowercase();
            writeln!(buf, "pulp-init: {level}: {}", record.args())
        })
        .init();
}

fn run(cli: Cli, original_mask: &sys::SigSet) -> Result<i32> {
    let conf_path = cli.common.conf.clone();
    match &cli.command {
        Some(Command::Config { diff }) => config_phase(&conf_path, *diff).map(|()| 0),
        Some(Command::Roles) => {
            print!("{}", roles::table());
            Ok(0)
        }
        Some(Command::Check { storage: true }) => {
            storage::check_only(&cli.storage, cli.common.user.as_deref()).map(|()| 0)
        }
        Some(cmd @ (Command::Wait | Command::Check { .. })) => {
            run::exit_on_termination_signals();
            let opts = probe_options(&cli, matches!(cmd, Command::Check { .. }));
            let deps = probe::dependencies(&conf::read_values(&conf_path)?, true, true)?;
            probe::wait(deps, &opts).map(|()| 0)
        }
        Some(Command::Migrate { force }) => {
            run::exit_on_termination_signals();
            let values = conf::read_values(&conf_path)?;
            migrate_phase(&cli, &values, None, *force, original_mask).map(|()| 0)
        }
        None => {
            let role = cli.role.as_deref().and_then(roles::find);
            let supervise = match cli.mode {
                cli::Mode::Supervise => true,
                cli::Mode::Exec => false,
                cli::Mode::Auto => std::process::id() == 1,
            };
            let user = cli.common.user.as_deref().or(role.map(|r| r.user));
            let rewrites = supervise::rewrites(role.map_or(&[], |r| r.rewrites), &cli.rewrites)?;
            let argv = run::command_line(role, &cli.argv)?;
            // A wrong user or command line fails now, not after the probes.
            privileges::decide_quietly(user)?;
            let mut probed = false;
            if let Some(role) = role {
                if !cli.skip_config {
                    config_phase(&conf_path, false)?;
                }
                storage::prepare(&cli.storage, role, cli.common.user.as_deref())?;
                let wait = !cli.skip_wait;
                let migrate = role.migrates && !cli.skip_migrate;
                if wait || migrate {
                    run::exit_on_termination_signals();
                    // Both phases read the effective server.conf, once.
                    let values = conf::read_values(&conf_path)?;
                    if wait {
                        let deps = probe::dependencies(&values, role.needs_db, role.needs_broker)?;
                        probe::wait(deps, &probe_options(&cli, false))?;
                    }
                    if migrate {
                        migrate_phase(&cli, &values, Some(role.user), false, original_mask)?;
                    }
                    probed = true;
                }
            }
            if probed {
                // A fresh image for the run phase: single-threaded, without the probes'
                // runtime. Exec mode needs it as much: a privilege drop in a process with
                // other threads makes libc signal them (glibc's SIGSETXID).
                return Err(run::reexec_for_run(original_mask));
            }
            let service = supervise::Service {
                argv,
                account: privileges::decide(user)?,
                rewrites,
                group: cli.group,
                grace: cli.grace,
            };
            if supervise {
                // A stop signal pending now exits at once: before the socket exists.
                run::settle_startup_signals();
                let _relay = syslog::start(&cli.syslog, &conf_path, role.is_some());
                supervise::supervise(&service, original_mask)
            } else {
                syslog::warn_if_exec_cannot_help(&cli.syslog, &conf_path, role.is_some());
                Err(run::exec(&service, original_mask))
            }
        }
    }
}

/// The migrations, as the role's user (`pulp-manage-db` refuses to run as root).
fn migrate_phase(
    cli: &Cli,
    values: &conf::Values,
    role_user: Option<&str>,
    force: bool,
    original_mask: &sys::SigSet,
) -> Result<()> {
    let command: Vec<std::ffi::OsString> = cli
        .common
        .migrate_command
        .split_whitespace()
        .map(Into::into)
        .collect();
    let version_file = cli.common.version_file.clone().or_else(|| {
        let default = Path::new("/etc/pulp-init/version");
        default.exists().then(|| default.to_path_buf())
    });
    let fingerprint = migrate::fingerprint(
        std::env::var("PULP_INIT_MIGRATION_FINGERPRINT").ok(),
        &command,
        version_file.as_deref(),
    )?;
    let user = cli
        .common
        .user
        .as_deref()
        .or(role_user)
        .or(roles::find("beat").map(|r| r.user));
    let service = supervise::Service {
        argv: command,
        account: privileges::decide(user)?,
        rewrites: Vec::new(),
        group: false,
        grace: None,
    };
    let opts = migrate::Options {
        force,
        lease: cli.common.lock_lease,
        timeout: cli.common.timeout,
        fingerprint,
        service,
    };
    // pulp-manage-db logs to /dev/log too (and exits 69 without it).
    let _relay = syslog::start(&cli.syslog, &cli.common.conf, true);
    migrate::migrate(
        &probe::MongoTarget::from_conf(values)?,
        &opts,
        original_mask,
    )
}

fn probe_options(cli: &Cli, check: bool) -> probe::Options {
    let attempt = cli.common.attempt_timeout.unwrap_or(if check {
        Duration::from_millis(800)
    } else {
        Duration::from_secs(2)
    });
    probe::Options {
        timeout: if check { attempt } else { cli.common.timeout },
        attempt_timeout: attempt,
        retry_cap: cli.common.retry_cap,
        single_attempt: check,
    }
}

/// Reads the environment, edits server.conf (or prints the diff), logs each change.
fn config_phase(path: &Path, diff_only: bool) -> Result<()> {
    // Waiting for another writer's lock must not delay `docker stop`.
    run::exit_on_termination_signals();
    let env = settings::Env::from_vars(std::env::vars_os(), settings::read_value_file)?;
    let mut edits = settings::conf_edits(&env)?;
    edits.extend(syslog::log_type_edit(path, &edits));
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
                conf::InPlaceReason::DirectoryNotWritable =>
                    "its directory is not writable, the file is",
            }
        ),
    }
    Ok(())
}
