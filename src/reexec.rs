//! The hand-over from start-up to the run phase: this binary runs again with the phases
//! skipped, so the run phase starts from a fresh, single-threaded image; the signal mask
//! pulp-init was started with travels along for the service.

use crate::error::Error;
use crate::sys::SigSet;
use std::sync::atomic::{AtomicBool, Ordering};

/// Carries the original signal mask across the supervisor's re-exec (internal).
pub const ORIGINAL_MASK_VAR: &str = "PULP_INIT_ORIGINAL_SIGMASK";

/// Set in the re-executed image: it must never re-execute again (a phase the skip flags
/// missed would loop).
static REEXECUTED: AtomicBool = AtomicBool::new(false);

/// The mask pulp-init was started with: `blocked_at_start`, unless this image is the
/// re-executed supervisor, which is told the first image's.
pub fn original_mask(blocked_at_start: SigSet) -> SigSet {
    let Some(text) = std::env::var_os(ORIGINAL_MASK_VAR) else {
        return blocked_at_start;
    };
    REEXECUTED.store(true, Ordering::SeqCst);
    // Still single-threaded here; the service must not see the variable.
    std::env::remove_var(ORIGINAL_MASK_VAR);
    text.to_str()
        .and_then(|t| u64::from_str_radix(t, 16).ok())
        .map_or(blocked_at_start, SigSet::from_bits)
}

/// Runs this binary again with the phases skipped, so the run phase starts from a fresh,
/// single-threaded image without the probes' runtime, drivers and their memory (a
/// supervising PID 1 keeps running in it). Signals stay blocked and pending across the
/// exec: it is a plain execve, not `Command::exec`, which empties the mask first — a
/// pending SIGTERM would then be delivered to a namespace's init with the default action,
/// which the kernel drops. Returns only on failure.
pub fn reexec_for_run(original_mask: &SigSet) -> Error {
    if REEXECUTED.load(Ordering::SeqCst) {
        return Error::Internal("a start-up phase ran again after the re-exec".into());
    }
    use std::ffi::{CString, OsString};
    use std::os::unix::ffi::OsStringExt;
    let exe = "/proc/self/exe";
    let cstring = |s: OsString| CString::new(s.into_vec()).ok();
    let mut args: Vec<OsString> = std::env::args_os().collect();
    if args.is_empty() {
        args.push("pulp-init".into());
    }
    let rest = args.split_off(1);
    args.extend(
        [
            "--skip-config",
            "--skip-wait",
            "--skip-migrate",
            "--skip-migrate-wait",
            "--skip-storage",
            "--skip-keys",
        ]
        .map(OsString::from),
    );
    args.extend(rest);
    // The new image starts with everything blocked; it must still give the service the
    // mask pulp-init itself was started with.
    let mut env: Vec<OsString> = std::env::vars_os()
        .filter(|(k, _)| k != ORIGINAL_MASK_VAR)
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            kv
        })
        .collect();
    env.push(format!("{ORIGINAL_MASK_VAR}={:016x}", original_mask.to_bits()).into());
    let (Some(argv), Some(envp), Some(path)) = (
        args.into_iter().map(cstring).collect::<Option<Vec<_>>>(),
        env.into_iter().map(cstring).collect::<Option<Vec<_>>>(),
        CString::new(exe).ok(),
    ) else {
        return Error::Internal("cannot re-execute: an argument holds a NUL byte".into());
    };
    let err = crate::sys::execve(&path, &argv, &envp);
    Error::Internal(format!("cannot re-execute {exe} as the supervisor: {err}"))
}
