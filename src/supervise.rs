//! Supervising the service as PID 1 (or a subreaper): spawn it, forward signals to it
//! (rewritten per role), reap every zombie, and exit with its status. One loop owns
//! every wait.

use crate::child::Service;
use crate::error::{Error, Result};
use crate::sys::{self, SigSet};
use std::time::{Duration, Instant};

/// Runs `service` under supervision; returns the exit code pulp-init must exit with.
/// How signals reach the service.
#[derive(Debug, Clone, Default)]
pub struct Forwarding {
    /// Incoming signal -> signal sent to the child.
    pub rewrites: Vec<(i32, i32)>,
    /// Signal the child's whole process group, not only the child.
    pub group: bool,
    /// After a forwarded SIGTERM, SIGKILL the child's group if it is still alive then.
    pub grace: Option<Duration>,
}

impl Forwarding {
    fn rewrite(&self, sig: i32) -> i32 {
        self.rewrites
            .iter()
            .find(|(from, _)| *from == sig)
            .map_or(sig, |(_, to)| *to)
    }
}

pub fn supervise(
    service: &Service,
    keeper: Option<&Service>,
    fwd: &Forwarding,
    original_mask: &SigSet,
) -> Result<i32> {
    if std::process::id() != 1 {
        // Orphans of the service's descendants come to us instead of to the real init.
        if let Err(e) = sys::set_child_subreaper() {
            log::warn!(
                "not PID 1 and cannot become a subreaper ({e}): orphans will not be reaped here"
            );
        }
    }
    // Returning, not exiting: the caller's /dev/log relay must remove its socket.
    if let Some(code) = crate::startup::pending_stop() {
        return Ok(code);
    }
    let child = service
        .command(original_mask, true)?
        .spawn()
        .map_err(|e| service.start_error(&e))?;
    let pid = i32::try_from(child.id()).map_err(|_| Error::Internal("pid out of range".into()))?;
    // Never Child::wait: the reaper below owns every wait, or it would steal this status.
    drop(child);
    log::info!(
        "running {} as pid {pid}{}",
        service.name(),
        service
            .account
            .as_ref()
            .map(|a| format!(" as {} (uid {}, gid {})", a.name, a.uid, a.gid))
            .unwrap_or_default()
    );
    let mut keeper_pid = keeper.and_then(|k| start_keeper(k, original_mask));
    sys::release_startup_pages();
    let every = SigSet::all_async();
    let mut kill_at: Option<Instant> = None;
    loop {
        let wait = kill_at.map_or(Duration::from_secs(1), |t| {
            t.saturating_duration_since(Instant::now())
                .min(Duration::from_secs(1))
        });
        // A timeout, or SIGCHLD, only leads to the reaping below (several SIGCHLDs can
        // arrive as one; the timeout covers any that were lost).
        if let Some(sig) = sys::wait_signal(&every, wait) {
            if sig != libc::SIGCHLD {
                let to = fwd.rewrite(sig);
                let target = if fwd.group { -pid } else { pid };
                // The signal first, the log line after: writing can be slow.
                let sent = sys::kill(target, to);
                if to == sig {
                    log::debug!("forwarding {} to {target}", sys::signal_name(sig));
                } else {
                    log::info!(
                        "forwarding {} to {target} as {}",
                        sys::signal_name(sig),
                        sys::signal_name(to)
                    );
                }
                if let Err(e) = sent {
                    log::warn!("cannot send {} to {target}: {e}", sys::signal_name(to));
                }
                if sig == libc::SIGTERM && kill_at.is_none() {
                    kill_at = fwd.grace.map(|g| Instant::now() + g);
                }
            }
        }
        while let Some(ended) = sys::reap_one() {
            if Some(ended.pid) == keeper_pid {
                log::warn!(
                    "presence: the keeper (pid {}) exited with {}: this pod is not announced any more",
                    ended.pid,
                    ended.code
                );
                keeper_pid = None;
            }
            if ended.pid == pid {
                log_end(service, &ended);
                if let Some(k) = keeper_pid {
                    stop_keeper(k);
                }
                // Take what else has ended too, then leave: when PID 1 exits, the kernel
                // ends what is left in the namespace.
                while sys::reap_one().is_some() {}
                return Ok(ended.code);
            }
        }
        if kill_at.is_some_and(|t| Instant::now() >= t) {
            let _ = sys::kill(-pid, libc::SIGKILL);
            let _ = sys::kill(pid, libc::SIGKILL);
            log::warn!(
                "{} still running {} after SIGTERM: sending SIGKILL",
                service.name(),
                fwd.grace.map(crate::time::human).unwrap_or_default()
            );
            kill_at = None;
        }
    }
}

/// The presence keeper, in a session of its own: forwarded signals are the service's.
fn start_keeper(keeper: &Service, original_mask: &SigSet) -> Option<i32> {
    let started = keeper
        .command(original_mask, true)
        .and_then(|mut c| c.spawn().map_err(|e| keeper.start_error(&e)));
    match started {
        // Never Child::wait: the reaper owns every wait.
        Ok(child) => i32::try_from(child.id()).ok(),
        Err(e) => {
            log::warn!("presence: cannot start the keeper ({e}): this pod is not announced");
            None
        }
    }
}

/// The service has ended: the keeper withdraws the pod's record, within a bound.
fn stop_keeper(pid: i32) {
    let _ = sys::kill(pid, libc::SIGTERM);
    let until = Instant::now() + crate::presence::STOP_WAIT;
    let chld = SigSet::of(&[libc::SIGCHLD]);
    loop {
        while let Some(ended) = sys::reap_one() {
            if ended.pid == pid {
                return;
            }
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            log::warn!(
                "presence: the keeper did not end within {}: killed",
                crate::time::human(crate::presence::STOP_WAIT)
            );
            let _ = sys::kill(pid, libc::SIGKILL);
            return;
        }
        sys::wait_signal(&chld, left.min(Duration::from_millis(100)));
    }
}

fn log_end(service: &Service, ended: &sys::Ended) {
    let code = ended.code;
    match ended.signal {
        Some(sig) => log::info!(
            "{} was killed by {}: exiting with {code}",
            service.name(),
            sys::signal_name(sig)
        ),
        None => log::info!("{} exited with {code}", service.name()),
    }
}

/// The role's stop-signal rewrites, then `--rewrite FROM:TO` ones (which win).
pub fn rewrites(role: &[(i32, i32)], given: &[String]) -> Result<Vec<(i32, i32)>> {
    let mut out: Vec<(i32, i32)> = Vec::new();
    let parsed: Result<Vec<(i32, i32)>> = given
        .iter()
        .map(|r| {
            let bad = || {
                Error::usage(
                    "--rewrite",
                    format!("{r:?} is not FROM:TO with signal names or numbers, e.g. TERM:QUIT"),
                )
            };
            let (from, to) = r.split_once(':').ok_or_else(bad)?;
            let from = sys::signal_number(from).ok_or_else(bad)?;
            let to = sys::signal_number(to).ok_or_else(bad)?;
            if from == libc::SIGCHLD {
                return Err(Error::usage(
                    "--rewrite",
                    format!("{r:?}: pulp-init reaps on SIGCHLD and never forwards it; rewrite a signal it forwards, e.g. TERM:QUIT"),
                ));
            }
            if matches!(
                to,
                libc::SIGCHLD
                    | libc::SIGURG
                    | libc::SIGCONT
                    | libc::SIGSTOP
                    | libc::SIGTSTP
                    | libc::SIGTTIN
                    | libc::SIGTTOU
            ) {
                return Err(Error::usage(
                    "--rewrite",
                    format!(
                        "{r:?}: {} neither stops nor signals the service in any useful way (it is ignored by default, or pauses or resumes the process); rewrite to a signal it acts on, e.g. TERM:QUIT",
                        sys::signal_name(to)
                    ),
                ));
            }
            if matches!(from, libc::SIGKILL | libc::SIGSTOP) {
                return Err(Error::usage(
                    "--rewrite",
                    format!(
                        "{r:?}: {} can never be caught, so it cannot be rewritten; rewrite a signal pulp-init receives, e.g. TERM:QUIT",
                        sys::signal_name(from)
                    ),
                ));
            }
            Ok((from, to))
        })
        .collect();
    for (from, to) in role.iter().copied().chain(parsed?) {
        out.retain(|(f, _)| *f != from);
        out.push((from, to));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_rewrites_win_over_the_roles() {
        let r = rewrites(&[(15, 3)], &["TERM:WINCH".into(), "usr1:usr2".into()]).unwrap();
        assert_eq!(r, vec![(15, libc::SIGWINCH), (10, 12)]);
        assert!(rewrites(&[], &["TERM".into()]).is_err());
        assert!(rewrites(&[], &["TERM:NOPE".into()]).is_err());
        assert!(rewrites(&[], &["KILL:TERM".into()]).is_err());
        assert!(rewrites(&[], &["STOP:TERM".into()]).is_err());
        assert_eq!(rewrites(&[], &["TERM:KILL".into()]).unwrap(), vec![(15, 9)]);
        for pointless in [
            "TERM:CHLD",
            "TERM:URG",
            "TERM:CONT",
            "INT:STOP",
            "TERM:TSTP",
            "CHLD:TERM",
        ] {
            let e = rewrites(&[], &[pointless.into()]).unwrap_err();
            assert_eq!(e.exit_code(), 64, "{pointless}");
        }
    }
}
