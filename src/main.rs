//! pulp-init: entrypoint and PID 1 for Pulp 2 containers. `main` reads like the pipeline:
//! block signals, parse, plan the start-up, run the phases in order, exit with a code.
#![deny(unsafe_code)]

mod addr;
mod child;
mod cli;
mod conf;
mod db;
mod error;
mod gate;
mod keys;
mod live;
mod migrate;
mod plan;
mod presence;
mod privileges;
mod probe;
mod redact;
mod reexec;
mod roles;
mod settings;
mod startup;
mod stderr;
mod storage;
mod supervise;
mod sys;
mod syslog;
mod time;

use clap::Parser;
use error::{exit, Error, Result};
use plan::{Job, Startup};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Before anything else, and before any thread exists: every thread inherits this mask,
    // so no signal is lost or handled by a runtime thread while the phases run.
    let original_mask = sys::block(&sys::SigSet::all_async()).map(reexec::original_mask);
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return exit_code(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    init_logging();
    let result = original_mask
        .map_err(Error::Signals)
        .and_then(|mask| run(Startup::from_cli(cli)?, &mask));
    exit_code(match result {
        Ok(code) => code,
        Err(e) => {
            for line in e.to_string().lines() {
                log::error!("{line}");
            }
            e.exit_code()
        }
    })
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(exit::SOFTWARE as u8))
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
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(&spec).format(|buf, record| {
        let level = record.level().as_str().to_lowercase();
        writeln!(buf, "pulp-init: {level}: {}", record.args())
    });
    // PID 1 logs while it forwards signals: a stderr nobody reads must not stop it.
    if let Ok(out) = stderr::Stderr::new() {
        builder.target(env_logger::Target::Pipe(Box::new(out)));
    }
    builder.init();
}

fn run(startup: Startup, original_mask: &sys::SigSet) -> Result<i32> {
    let conf_path = &startup.conf;
    match startup.job {
        Job::Roles => {
            print!("{}", roles::table());
            Ok(exit::OK)
        }
        Job::Config { diff } => {
            // Waiting for another writer's lock must not delay `docker stop`.
            let signals = startup::Signals::watch();
            config_phase(conf_path, diff, &signals).map(|()| exit::OK)
        }
        Job::CheckStorage(opts, user) => {
            storage::check_only(&opts, user.as_deref()).map(|()| exit::OK)
        }
        Job::Live(opts) => {
            let verdict = live::judge(conf_path, &opts)?;
            println!("{verdict}");
            Ok(verdict.exit_code())
        }
        Job::Probe(opts) => {
            startup::Signals::watch();
            let deps = probe::dependencies(&conf::read_values(conf_path)?, true, true)?;
            probe::wait(deps, &opts).map(|()| exit::OK)
        }
        Job::Migrate(m) => {
            let signals = startup::Signals::watch();
            let values = conf::read_values(conf_path)?;
            let _relay = syslog::start(&m.syslog, conf_path, true, Some(&signals));
            migrate_phase(&m, &values, &signals, original_mask).map(|()| exit::OK)
        }
        Job::Presence { role, fingerprint } => {
            presence::keep(&conf::read_values(conf_path)?, &role, &fingerprint).map(|()| exit::OK)
        }
        Job::Keys(plan::Keys::Check {
            options,
            user,
            server_name,
        }) => keys::check(
            &conf::read_values(conf_path)?,
            &options,
            &user,
            server_name.as_deref(),
        )
        .map(|()| exit::OK),
        Job::Keys(plan::Keys::Out {
            dir,
            fqdn,
            server_name,
        }) => {
            let fqdn = fqdn.unwrap_or_else(keys::fqdn);
            let server_name = match server_name {
                Some(s) => s,
                // server.conf when there is one; the FQDN as Pulp's default otherwise.
                None => conf::read_values(conf_path)
                    .ok()
                    .and_then(|v| keys::server_name(&v).ok())
                    .unwrap_or_else(|| fqdn.clone()),
            };
            keys::out(&dir, &keys::Names { fqdn, server_name }).map(|()| exit::OK)
        }
        Job::Run(r) => {
            if r.starts_up() {
                name_process(live::pid1::STARTING);
                let signals = startup::Signals::watch();
                if r.config {
                    config_phase(conf_path, false, &signals)?;
                }
                if let Some(role) = r.role {
                    storage::prepare(&r.storage, role, r.given_user.as_deref())?;
                }
                if r.wait.is_some() || r.migrate.is_some() || r.gate.is_some() || r.keys.is_some() {
                    // These phases read the effective server.conf, once.
                    let values = conf::read_values(conf_path)?;
                    if let Some((opts, db, broker)) = &r.wait {
                        probe::wait(probe::dependencies(&values, *db, *broker)?, opts)?;
                    }
                    // pulp-manage-db (its --dry-run too) logs to /dev/log, and exits 69
                    // without it.
                    let _relay = (r.migrate.is_some() || r.gate.is_some())
                        .then(|| syslog::start(&r.syslog, conf_path, true, Some(&signals)))
                        .flatten();
                    if let (Some(k), Some(role)) = (&r.keys, r.role) {
                        keys_phase(k, role, r.user.as_deref(), &values)?;
                    }
                    if let Some(m) = &r.migrate {
                        migrate_phase(m, &values, &signals, original_mask)?;
                    }
                    if let Some(m) = &r.gate {
                        gate_phase(m, &values, &signals, original_mask)?;
                    }
                }
                signals.hand_over();
                // A fresh image for the run phase: single-threaded, without the probes'
                // runtime. Exec mode needs it as much: a privilege drop in a process with
                // other threads makes libc signal them (glibc's SIGSETXID).
                return Err(reexec::reexec_for_run(original_mask));
            }
            let service = child::Service {
                argv: r.argv,
                account: privileges::decide(r.user.as_deref())?,
            };
            if r.supervise {
                name_process(live::pid1::SUPERVISING);
                // A stop signal pending now exits at once: before the socket exists.
                startup::settle();
                // Dropped before pulp-init exits: supervise returns even for a stop signal.
                let _relay = syslog::start(&r.syslog, conf_path, r.role.is_some(), None);
                let keeper = match (&r.presence, r.role) {
                    (Some(m), Some(role)) => keeper(m, role, conf_path, &service),
                    _ => None,
                };
                supervise::supervise(&service, keeper.as_ref(), &r.forwarding, original_mask)
            } else {
                syslog::warn_if_exec_cannot_help(&r.syslog, conf_path, r.role.is_some());
                Err(child::exec(&service, original_mask))
            }
        }
    }
}

/// The presence keeper's command; none (with a warning) when it cannot be made.
fn keeper(
    m: &plan::Migration,
    role: &roles::Role,
    conf: &Path,
    service: &child::Service,
) -> Option<child::Service> {
    // Without pulp-manage-db (a custom command) the image has no fingerprint to name.
    let fp = fingerprint(m).map_or_else(|_| "unknown".to_string(), |f| f.value);
    presence::keeper(conf, role.name, &fp, service)
        .map_err(|e| log::warn!("{e}: this pod is not announced"))
        .ok()
}

/// PID 1's name tells `check --live` the phase (the re-executed image would be `exe`).
fn name_process(name: &std::ffi::CStr) {
    if let Err(e) = sys::set_process_name(name) {
        log::debug!("cannot set the process name: {e}");
    }
}

/// The keys: laid in, or made once per deployment, then checked against the deployment's.
fn keys_phase(
    k: &keys::KeysOptions,
    role: &roles::Role,
    user: Option<&str>,
    values: &conf::Values,
) -> Result<()> {
    let apache = role.name == "apache";
    // httpd starts as root; Pulp's code in it reads the files as apache.
    let reader = if apache {
        privileges::lookup(keys::KEY_GROUP)
    } else {
        privileges::decide_quietly(user)?.0
    };
    keys::phase::run(&keys::phase::Phase {
        values,
        options: k,
        apache,
        reader: reader.as_ref(),
        target: &db::MongoTarget::from_conf(values)?,
    })
}

/// The migrations, as the role's user (`pulp-manage-db` refuses to run as root).
fn migrate_phase(
    m: &plan::Migration,
    values: &conf::Values,
    signals: &startup::Signals,
    original_mask: &sys::SigSet,
) -> Result<()> {
    let opts = migrate::Options {
        force: m.force,
        lease: m.lease,
        timeout: m.timeout,
        fingerprint: fingerprint(m)?,
        service: migration_service(m)?,
        worker_timeout: values.worker_timeout()?,
        settle: m.settle,
        allow_older: m.allow_older,
    };
    let target = db::MongoTarget::from_conf(values)?;
    migrate::migrate(&target, &opts, signals, original_mask)
}

/// The schema gate: this image's migrations done, before its service starts.
fn gate_phase(
    m: &plan::Migration,
    values: &conf::Values,
    signals: &startup::Signals,
    original_mask: &sys::SigSet,
) -> Result<()> {
    let opts = gate::Options {
        fingerprint: fingerprint(m)?,
        timeout: m.timeout,
        migrate: migration_service(m)?,
        allow_older: m.allow_older,
    };
    gate::wait(
        &db::MongoTarget::from_conf(values)?,
        &opts,
        signals,
        original_mask,
    )
}

fn fingerprint(m: &plan::Migration) -> Result<migrate::Fingerprint> {
    migrate::fingerprint(m.fingerprint.clone(), &m.command, m.version_file.as_deref())
}

fn migration_service(m: &plan::Migration) -> Result<child::Service> {
    Ok(child::Service {
        argv: m.command.clone(),
        account: privileges::decide(m.user.as_deref())?,
    })
}

/// Reads the environment, edits server.conf (or prints the diff), logs each change.
fn config_phase(path: &Path, diff_only: bool, signals: &startup::Signals) -> Result<()> {
    let env = settings::Env::from_vars(std::env::vars_os(), settings::read_value_file)?;
    let mut edits = settings::conf_edits(&env)?;
    edits.extend(syslog::log_type_edit(path, &edits));
    let plan = conf::plan(path, &edits)?;
    if diff_only {
        print!("{}", plan.diff());
        return Ok(());
    }
    let method = signals.deferring(|| plan.commit())?;
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
            "{}: rewritten in place ({reason}) from a complete fsynced copy",
            path.display()
        ),
    }
    Ok(())
}
