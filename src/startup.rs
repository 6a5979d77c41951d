//! Signals during start-up (config, probes, migrations): a stop signal ends pulp-init at
//! once with 128+N (`docker stop` must not wait for a probe deadline), or goes to the
//! migration command while one runs; other signals are dropped before the service starts.

use crate::sys::{self, SigSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

const STOP_SIGNALS: [i32; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];

/// The start-up signal watcher, handed to the phases that start a child of their own.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// Where a stop signal goes (0: nowhere, exit instead).
    forward_to: Arc<AtomicI32>,
    /// The last stop signal forwarded (0: none).
    received: Arc<AtomicI32>,
    /// Held while a signal is handled.
    handling: Arc<Mutex<Handling>>,
}

#[derive(Debug, Default)]
struct Handling {
    /// True once start-up hands over to the run phase.
    handed_over: bool,
    /// Files start-up made that must not outlive pulp-init (its /dev/log): removed before
    /// a stop signal ends it, as `process::exit` runs no destructor.
    remove_on_exit: Vec<PathBuf>,
    /// Process groups of start-up commands (a `--dry-run`) that must not outlive pulp-init.
    kill_on_exit: Vec<i32>,
}

/// The lock, also when a thread panicked while holding it (the state stays usable).
fn lock(m: &Mutex<Handling>) -> MutexGuard<'_, Handling> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Signals {
    /// Starts watching signals on a thread of its own (they stay blocked in every other
    /// thread): stop signals end start-up or go to the migration; others are dropped.
    pub fn watch() -> Signals {
        let signals = Signals::default();
        let (forward_to, received) = (signals.forward_to.clone(), signals.received.clone());
        let handling = signals.handling.clone();
        // Children of the start-up phases are waited for by pid: SIGCHLD is not needed.
        let set = SigSet::from_bits(SigSet::all_async().to_bits() & !(1 << (libc::SIGCHLD - 1)));
        std::thread::spawn(move || loop {
            let Some(sig) = sys::wait_signal(&set, Duration::from_secs(3600)) else {
                continue;
            };
            let mut state = lock(&handling);
            if state.handed_over {
                // Too late for this thread: pending again, for the run phase to settle.
                let _ = sys::kill(std::process::id() as i32, sig);
                return;
            }
            if !STOP_SIGNALS.contains(&sig) {
                not_forwarded(sig);
                continue;
            }
            let target = forward_to.load(Ordering::SeqCst);
            if target > 0 {
                received.store(sig, Ordering::SeqCst);
                log::warn!(
                    "{} received: forwarding it to the migration (process group {target})",
                    sys::signal_name(sig)
                );
                let _ = sys::kill(-target, sig);
            } else {
                log::warn!(
                    "{} received before the service started: exiting",
                    sys::signal_name(sig)
                );
                // Still holding the lock: nothing new is made while these go.
                for path in state.remove_on_exit.drain(..) {
                    let _ = std::fs::remove_file(path);
                }
                for group in state.kill_on_exit.drain(..) {
                    let _ = sys::kill(-group, libc::SIGKILL);
                }
                std::process::exit(128 + sig);
            }
        });
        signals
    }

    /// Runs `make`, which creates the file `path`, with stop signals held back; once made,
    /// the file is removed before a stop signal ends start-up, unless `remove` did first.
    pub fn make_removable<T>(
        &self,
        path: &Path,
        make: impl FnOnce() -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        let mut state = lock(&self.handling);
        let made = make()?;
        state.remove_on_exit.push(path.to_path_buf());
        Ok(made)
    }

    /// Removes a file `make_removable` made, with stop signals held back.
    pub fn remove(&self, path: &Path) -> std::io::Result<()> {
        let mut state = lock(&self.handling);
        state.remove_on_exit.retain(|p| p != path);
        std::fs::remove_file(path)
    }

    /// Ends the watching before the run phase (a re-exec would kill the thread in the
    /// middle of handling a signal): a signal it takes from now on is left pending.
    pub fn hand_over(&self) {
        lock(&self.handling).handed_over = true;
    }

    /// Runs `f` with stop signals held off: one that arrives meanwhile ends pulp-init when
    /// `f` returns. For a write that must not be cut short (an exit in the middle of
    /// writing server.conf would leave a temp file, or a file rewritten in place half-done).
    pub fn deferring<T>(&self, f: impl FnOnce() -> T) -> T {
        // The watcher takes this lock before it handles a signal.
        let _held = lock(&self.handling);
        f()
    }

    /// The process group `pgid` is killed if a stop signal ends start-up, until `forget`.
    pub fn kill_on_exit(&self, pgid: i32) {
        lock(&self.handling).kill_on_exit.push(pgid);
    }

    pub fn forget(&self, pgid: i32) {
        lock(&self.handling).kill_on_exit.retain(|g| *g != pgid);
    }

    /// Stop signals go to the process group `pid` (a command started in its own session)
    /// from now on (0: back to exiting).
    pub fn forward_to(&self, pid: i32) {
        self.forward_to.store(pid, Ordering::SeqCst);
    }

    /// The stop signal that was forwarded to the child, if any.
    pub fn received(&self) -> Option<i32> {
        match self.received.load(Ordering::SeqCst) {
            0 => None,
            sig => Some(sig),
        }
    }
}

/// Just before the service starts: a stop signal still pending ends pulp-init with
/// 128+N, as it would have during start-up; any other signal that arrived during
/// start-up (a terminal's SIGWINCH, a stray SIGUSR1) is dropped, not forwarded to a
/// service that has not installed its handlers yet (it would kill a Python service
/// and stop httpd at once).
pub fn settle() {
    if let Some(code) = pending_stop() {
        std::process::exit(code);
    }
}

/// `settle`, for a caller with something to clean up: the code to exit with (128+N)
/// when a stop signal was pending, instead of exiting.
pub fn pending_stop() -> Option<i32> {
    let every = SigSet::all_async();
    while let Some(sig) = sys::wait_signal(&every, Duration::ZERO) {
        if STOP_SIGNALS.contains(&sig) {
            log::warn!(
                "{} received before the service started: exiting",
                sys::signal_name(sig)
            );
            return Some(128 + sig);
        }
        if sig != libc::SIGCHLD {
            not_forwarded(sig);
        }
    }
    None
}

fn not_forwarded(sig: i32) {
    log::info!(
        "{} received before the service started: not forwarded",
        sys::signal_name(sig)
    );
}
