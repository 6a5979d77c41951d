//! Running the migration command while holding the lease: its output passes through (and
//! its last lines are kept for the error), the lease is renewed, and when it cannot be
//! renewed the command is stopped before the lease can run out: two migrations never
//! overlap (a fenced lease).

use super::store::Store;
use crate::child::Service;
use crate::error::{Error, Result};
use crate::startup;
use crate::sys::{self, SigSet};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many of the command's last output lines an error shows.
const TAIL: usize = 20;

/// How a run of the command ended.
pub struct Ended {
    /// Its exit code (128+N when killed by signal N).
    pub code: i32,
    /// Its last output lines.
    pub tail: Vec<String>,
    /// The lease could not be kept: the command was stopped.
    pub fenced: bool,
}

type Tail = Arc<Mutex<VecDeque<String>>>;

/// Copies a pipe to our stdout or stderr line by line, keeping the last lines.
fn relay(
    pipe: impl std::io::Read + Send + 'static,
    to_stderr: bool,
    tail: Tail,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if to_stderr {
                let _ = writeln!(std::io::stderr(), "{line}");
            } else {
                let _ = writeln!(std::io::stdout(), "{line}");
            }
            if let Ok(mut t) = tail.lock() {
                if t.len() == TAIL {
                    t.pop_front();
                }
                t.push_back(line);
            }
        }
    })
}

/// Runs `service` to its end, renewing `me`'s lease every third of it. Stop signals
/// received meanwhile go to the command. If no renewal has succeeded for two thirds of
/// the lease (the database is unreachable, or the lock was taken), the command gets
/// SIGTERM, and SIGKILL at five sixths: it has ended before the lease can expire.
pub async fn run(
    store: &Store,
    me: &str,
    lease: Duration,
    service: &Service,
    signals: &startup::Signals,
    original_mask: &SigSet,
) -> Result<Ended> {
    let mut cmd = service.command(original_mask, true)?;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| service.start_error(&e))?;
    let pid = i32::try_from(child.id()).unwrap_or(0);
    let tail: Tail = Arc::default();
    let mut relays = Vec::new();
    if let Some(out) = child.stdout.take() {
        relays.push(relay(out, false, tail.clone()));
    }
    if let Some(err) = child.stderr.take() {
        relays.push(relay(err, true, tail.clone()));
    }
    signals.forward_to(pid);
    let waited = tokio::task::spawn_blocking(move || child.wait());
    tokio::pin!(waited);

    let renewed_at = Arc::new(Mutex::new(Instant::now()));
    let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renewer = {
        let (renewed_at, lost) = (renewed_at.clone(), lost.clone());
        async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                let sent = Instant::now();
                match tokio::time::timeout(lease / 3, store.renew(me, lease)).await {
                    Ok(Ok(true)) => {
                        if let Ok(mut t) = renewed_at.lock() {
                            *t = sent;
                        }
                    }
                    Ok(Ok(false)) => {
                        log::error!("migrations: the lock was taken by another holder");
                        lost.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ok(Err(e)) => log::warn!("migrations: could not renew the lease: {e}"),
                    Err(_) => log::warn!(
                        "migrations: could not renew the lease: no answer within {}",
                        crate::time::human(lease / 3)
                    ),
                }
            }
        }
    };
    tokio::pin!(renewer);
    let mut check = tokio::time::interval(Duration::from_millis(100));
    let (mut termed, mut killed) = (false, false);
    let status = loop {
        tokio::select! {
            status = &mut waited => break status,
            () = &mut renewer => {}
            _ = check.tick() => {
                let since = renewed_at.lock().map(|t| t.elapsed()).unwrap_or_default();
                let lost = lost.load(std::sync::atomic::Ordering::SeqCst);
                if !termed && (lost || since >= lease * 2 / 3) {
                    log::error!(
                        "migrations: the lease could not be kept (last renewed {} ago): stopping the command before another holder may take the lock",
                        crate::time::human(since)
                    );
                    let _ = sys::kill(pid, libc::SIGTERM);
                    termed = true;
                }
                if termed && !killed && (since >= lease * 5 / 6 || (lost && since >= lease / 2)) {
                    log::error!("migrations: the command is still running: SIGKILL");
                    let _ = sys::kill(pid, libc::SIGKILL);
                    killed = true;
                }
            }
        }
    };
    signals.forward_to(0);
    let status = status
        .map_err(|e| Error::Internal(format!("waiting for the migration: {e}")))?
        .map_err(|e| Error::Internal(format!("waiting for the migration: {e}")))?;
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    // The last lines are on their way through the pipes (a descendant that keeps them
    // open must not hold us up for long).
    let until = Instant::now() + Duration::from_millis(500);
    while relays.iter().any(|r| !r.is_finished()) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let tail = tail
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default();
    Ok(Ended {
        code,
        tail,
        fenced: termed,
    })
}
