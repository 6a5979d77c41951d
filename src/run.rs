//! The run phase: the command line to run, and replacing pulp-init with it.

use crate::error::{Error, Result};
use crate::roles::Role;
use crate::supervise::Service;
use crate::sys::{self, SigSet};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
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
    let mut cmd = match service.command(original_mask, false) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let err = cmd.exec();
    // The mask was restored for the exec that failed; block again for a clean exit.
    let _ = sys::block(&SigSet::all_async());
    service.start_error(&err)
}

/// Runs this binary again with the phases skipped, so the supervising PID 1 is a fresh
/// image without the probes' runtime, drivers and their memory. Signals stay blocked and
/// pending across exec. Returns only on failure.
pub fn reexec_supervisor() -> Error {
    let exe = std::path::Path::new("/proc/self/exe");
    let err = std::process::Command::new(exe)
        .arg0(
            std::env::args_os()
                .next()
                .unwrap_or_else(|| "pulp-init".into()),
        )
        .args(["--skip-config", "--skip-wait", "--skip-migrate"])
        .args(std::env::args_os().skip(1))
        .exec();
    Error::Internal(format!(
        "cannot re-execute {} as the supervisor: {err}",
        exe.display()
    ))
}

/// Until the service runs, SIGTERM, SIGINT, SIGHUP or SIGQUIT end pulp-init at once with
/// 128+N (`docker stop` during start-up must not wait for a probe deadline).
pub fn exit_on_termination_signals() {
    let set = SigSet::of(&[libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT]);
    std::thread::spawn(move || loop {
        if let Some(sig) = sys::wait_signal(&set, Duration::from_secs(3600)) {
            log::warn!(
                "{} received before the service started: exiting",
                sys::signal_name(sig)
            );
            std::process::exit(128 + sig);
        }
    });
}
