//! The run phase: the command line to run, and replacing pulp-init with it.

use crate::error::{Error, Result};
use crate::roles::Role;
use crate::supervise::Service;
use crate::sys::{self, SigSet};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Once;
use std::time::Duration;

/// The role's default argv, or the `-- COMMAND` that replaces it.
pub fn command_line(role: Option<&Role>, argv: &[OsString]) -> Result<Vec<OsString>> {
    if !argv.is_empty() {
        return Ok(argv.to_vec());
    }
    match role {
        Some(r) => {
            let id = std::env::var("PULP_WORKER_ID").unwrap_or_else(|_| "1".into());
            Ok(r.argv(&id).into_iter().map(OsString::from).collect())
        }
        None => Err(Error::env(
            "COMMAND",
            "nothing to run; give --role ROLE, `-- COMMAND [ARGS...]`, or a subcommand (see --help)",
        )),
    }
}

/// Replaces pulp-init with the service (exec mode): the same child preparation as under
/// supervision, in this process. Returns only on failure.
pub fn exec(service: &Service, original_mask: &SigSet) -> Error {
    settle_startup_signals();
    let mut cmd = match service.command(original_mask, false) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let err = cmd.exec();
    // The mask was restored for the exec that failed; block again for a clean exit.
    let _ = sys::block(&SigSet::all_async());
    service.start_error(&err)
}

/// Carries the original signal mask across the supervisor's re-exec (internal).
pub const ORIGINAL_MASK_VAR: &str = "PULP_INIT_ORIGINAL_SIGMASK";

/// The mask pulp-init was started with: `blocked_at_start`, unless this image is the
/// re-executed supervisor, which is told the first image's.
pub fn original_mask(blocked_at_start: SigSet) -> SigSet {
    let Some(text) = std::env::var_os(ORIGINAL_MASK_VAR) else {
        return blocked_at_start;
    };
    // Still single-threaded here; the service must not see the variable.
    std::env::remove_var(ORIGINAL_MASK_VAR);
    text.to_str()
        .and_then(|t| u64::from_str_radix(t, 16).ok())
        .map_or(blocked_at_start, SigSet::from_bits)
}

/// Runs this binary again with the phases skipped, so the run phase starts from a fresh,
/// single-threaded image without the probes' runtime, drivers and their memory (a
/// supervising PID 1 keeps running in it). Signals stay blocked and pending across exec.
/// Returns only on failure.
pub fn reexec_for_run(original_mask: &SigSet) -> Error {
    let exe = std::path::Path::new("/proc/self/exe");
    let err = std::process::Command::new(exe)
        .arg0(
            std::env::args_os()
                .next()
                .unwrap_or_else(|| "pulp-init".into()),
        )
        // The new image starts with everything blocked; it must still give the service the
        // mask pulp-init itself was started with.
        .env(
            ORIGINAL_MASK_VAR,
            format!("{:016x}", original_mask.to_bits()),
        )
        .args(["--skip-config", "--skip-wait", "--skip-migrate"])
        .args(std::env::args_os().skip(1))
        .exec();
    Error::Internal(format!(
        "cannot re-execute {} as the supervisor: {err}",
        exe.display()
    ))
}

/// Where a termination signal goes while a migration runs (0: nowhere, exit instead).
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);
/// The last termination signal forwarded (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);
static WATCHING: Once = Once::new();

/// Until the service runs, SIGTERM, SIGINT, SIGHUP or SIGQUIT end pulp-init at once with
/// 128+N (`docker stop` during start-up must not wait for a probe deadline) — unless a
/// migration is running: then it gets the signal, and pulp-init stops after it.
pub fn exit_on_termination_signals() {
    WATCHING.call_once(|| {
        let set = SigSet::of(&STOP_SIGNALS);
        std::thread::spawn(move || loop {
            let Some(sig) = sys::wait_signal(&set, Duration::from_secs(3600)) else {
                continue;
            };
            let target = FORWARD_TO.load(Ordering::SeqCst);
            if target > 0 {
                RECEIVED.store(sig, Ordering::SeqCst);
                log::warn!(
                    "{} received: forwarding it to the migration (pid {target})",
                    sys::signal_name(sig)
                );
                let _ = sys::kill(target, sig);
            } else {
                log::warn!(
                    "{} received before the service started: exiting",
                    sys::signal_name(sig)
                );
                std::process::exit(128 + sig);
            }
        });
    });
}

const STOP_SIGNALS: [i32; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];

/// Just before the service starts: a stop signal still pending ends pulp-init with
/// 128+N, as it would have during start-up; any other signal that arrived during
/// start-up (a terminal's SIGWINCH, a stray SIGUSR1) is dropped, not forwarded to a
/// service that has not installed its handlers yet (it would kill a Python service
/// and stop httpd at once).
pub fn settle_startup_signals() {
    let every = SigSet::all_async();
    while let Some(sig) = sys::wait_signal(&every, Duration::ZERO) {
        if STOP_SIGNALS.contains(&sig) {
            log::warn!(
                "{} received before the service started: exiting",
                sys::signal_name(sig)
            );
            std::process::exit(128 + sig);
        }
        if sig != libc::SIGCHLD {
            log::info!(
                "{} received before the service started: not forwarded",
                sys::signal_name(sig)
            );
        }
    }
}

/// Termination signals go to `pid` from now on (0: back to exiting).
pub fn forward_termination_to(pid: i32) {
    FORWARD_TO.store(pid, Ordering::SeqCst);
}

/// The termination signal that was forwarded to a migration, if any.
pub fn termination_received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}
