//! The hand-over from start-up to the run phase: this binary runs again with the phases
//! skipped, so the run phase starts from a fresh, single-threaded image; the signal mask
//! pulp-init was started with travels along for the service.

use crate::error::Error;
use crate::sys::SigSet;
use std::os::unix::process::CommandExt;

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
        .args([
            "--skip-config",
            "--skip-wait",
            "--skip-migrate",
            "--skip-migrate-wait",
        ])
        .args(std::env::args_os().skip(1))
        .exec();
    Error::Internal(format!(
        "cannot re-execute {} as the supervisor: {err}",
        exe.display()
    ))
}
