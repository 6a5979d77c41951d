//! The run phase: the command line to run, and replacing pulp-init with it.

use crate::error::{Error, Result};
use crate::roles::Role;
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

/// Replaces pulp-init with `argv`, with the signal mask and SIGPIPE as they were when
/// pulp-init started. Returns only on failure: 127 not found, 126 not executable.
pub fn exec(argv: &[OsString], original_mask: &SigSet) -> Error {
    let Some((program, args)) = argv.split_first() else {
        return Error::Internal("empty command".into());
    };
    sys::default_sigpipe();
    if let Err(e) = sys::set_mask(original_mask) {
        return Error::Internal(format!("cannot restore the signal mask: {e}"));
    }
    let err = std::process::Command::new(program).args(args).exec();
    let _ = sys::block(&SigSet::all_async());
    let name = program.to_string_lossy().into_owned();
    match err.kind() {
        std::io::ErrorKind::NotFound => Error::Exec {
            code: 127,
            message: format!("{name}: command not found"),
        },
        std::io::ErrorKind::PermissionDenied => Error::Exec {
            code: 126,
            message: format!("{name}: not executable: {err}"),
        },
        _ => Error::Exec {
            code: 126,
            message: format!("{name}: cannot run: {err}"),
        },
    }
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
