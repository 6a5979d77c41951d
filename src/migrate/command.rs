//! Running the migration command and its `--dry-run`: in a session of its own, so that
//! stopping it stops everything it started (a wrapper that does not `exec` keeps its
//! child in the group), with its output passed through or logged, and kept for its error.
//! Under the lease (`under_lease`) the lease is renewed, and when it cannot be renewed the
//! whole group is stopped before the lease can run out: two migrations never overlap.

use super::output::Kept;
use super::store::Store;
use crate::child::Service;
use crate::error::{Error, Result};
use crate::startup;
use crate::sys::{self, SigSet};
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the command's output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// To our stdout and stderr, as the command printed it.
    Pass,
    /// To the log at debug level (a `--dry-run`).
    Debug,
}

/// How long a group whose leader ended may take to go after SIGKILL.
const GONE_AFTER_KILL: Duration = Duration::from_secs(5);

/// A started command: its process group, its exit, its kept output.
pub struct Spawned {
    pgid: i32,
    waited: tokio::task::JoinHandle<std::io::Result<std::process::ExitStatus>>,
    relays: Vec<std::thread::JoinHandle<()>>,
    kept: Arc<Mutex<Kept>>,
    code: Option<i32>,
    signals: startup::Signals,
}

fn relay(
    pipe: impl std::io::Read + Send + 'static,
    to_stderr: bool,
    output: Output,
    kept: Arc<Mutex<Kept>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            match output {
                Output::Pass if to_stderr => {
                    let _ = writeln!(std::io::stderr(), "{line}");
                }
                Output::Pass => {
                    let _ = writeln!(std::io::stdout(), "{line}");
                }
                Output::Debug => log::debug!("dry run: {line}"),
            }
            if let Ok(mut k) = kept.lock() {
                k.push(&line);
            }
        }
    })
}

impl Spawned {
    pub fn start(
        service: &Service,
        original_mask: &SigSet,
        output: Output,
        signals: &startup::Signals,
    ) -> Result<Spawned> {
        let mut cmd = service.command(original_mask, true)?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| service.start_error(&e))?;
        let pgid = i32::try_from(child.id()).unwrap_or(0);
        signals.kill_on_exit(pgid);
        let kept: Arc<Mutex<Kept>> = Arc::default();
        let mut relays = Vec::new();
        if let Some(out) = child.stdout.take() {
            relays.push(relay(out, false, output, kept.clone()));
        }
        if let Some(err) = child.stderr.take() {
            relays.push(relay(err, true, output, kept.clone()));
        }
        Ok(Spawned {
            pgid,
            waited: tokio::task::spawn_blocking(move || child.wait()),
            relays,
            kept,
            code: None,
            signals: signals.clone(),
        })
    }

    pub fn pgid(&self) -> i32 {
        self.pgid
    }

    /// The command's exit code (128+N when killed by signal N). Cancel-safe.
    pub async fn wait(&mut self) -> Result<i32> {
        if let Some(code) = self.code {
            return Ok(code);
        }
        let status = (&mut self.waited)
            .await
            .map_err(|e| Error::Internal(format!("waiting for the migration command: {e}")))?
            .map_err(|e| Error::Internal(format!("waiting for the migration command: {e}")))?;
        use std::os::unix::process::ExitStatusExt;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        self.code = Some(code);
        Ok(code)
    }

    pub fn signal(&self, sig: i32) {
        let _ = sys::kill(-self.pgid, sig);
    }

    /// After the command ended: the rest of its group gets SIGTERM, then SIGKILL at
    /// `grace`, and is waited for. Returns how many were left behind (0 in the usual
    /// case), after the last output lines are in.
    pub async fn finish(&mut self, grace: Duration) -> Result<Kept> {
        self.wait().await?;
        if self.group_alive() {
            log::warn!(
                "migrations: the command ended, other processes of its group (process group {}) did not: stopping them",
                self.pgid
            );
            self.signal(libc::SIGTERM);
            if !self.gone_within(grace).await {
                self.signal(libc::SIGKILL);
                if !self.gone_within(GONE_AFTER_KILL).await {
                    log::error!(
                        "migrations: process group {} is still there after SIGKILL",
                        self.pgid
                    );
                }
            }
        }
        // The last lines are on their way through the pipes (a process outside the group
        // that keeps them open must not hold us up for long).
        let until = Instant::now() + Duration::from_millis(500);
        while self.relays.iter().any(|r| !r.is_finished()) && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(self.kept.lock().map(|k| k.clone()).unwrap_or_default())
    }

    /// Stops the whole group now (SIGKILL) and waits for it: a `--dry-run` no longer
    /// needed must not outlive the phase, nor be left to the service.
    pub async fn kill(mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.finish(Duration::ZERO).await;
    }

    fn group_alive(&self) -> bool {
        sys::reap_group(self.pgid);
        sys::group_alive(self.pgid)
    }

    async fn gone_within(&self, within: Duration) -> bool {
        let until = Instant::now() + within;
        loop {
            if !self.group_alive() {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if self.code.is_none() {
            self.signal(libc::SIGKILL);
        }
        self.signals.forget(self.pgid);
    }
}

/// How a run under the lease ended.
pub struct Ended {
    /// Its exit code (128+N when killed by signal N).
    pub code: i32,
    pub output: Kept,
    /// The lease could not be kept: the command's group was stopped, and is gone.
    pub fenced: bool,
}

/// Runs the command to its end, renewing `me`'s lease every third of it. Stop signals
/// received meanwhile go to its process group. If no renewal has succeeded for two
/// thirds of the lease (the database is unreachable, or the lock was taken), the group
/// gets SIGTERM, and SIGKILL at five sixths: it has ended before the lease can expire.
pub async fn under_lease(
    store: &Store,
    me: &str,
    lease: Duration,
    mut spawned: Spawned,
    signals: &startup::Signals,
) -> Result<Ended> {
    signals.forward_to(spawned.pgid());
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
    let fence = |termed: &mut bool, killed: &mut bool, spawned: &Spawned| {
        let since = renewed_at.lock().map(|t| t.elapsed()).unwrap_or_default();
        let lost = lost.load(std::sync::atomic::Ordering::SeqCst);
        if !*termed && (lost || since >= lease * 2 / 3) {
            log::error!(
                "migrations: the lease could not be kept (last renewed {} ago): stopping the command's process group {} before another holder may take the lock",
                crate::time::human(since),
                spawned.pgid()
            );
            spawned.signal(libc::SIGTERM);
            *termed = true;
        }
        if *termed && !*killed && (since >= lease * 5 / 6 || (lost && since >= lease / 2)) {
            log::error!("migrations: the command is still running: SIGKILL to its process group");
            spawned.signal(libc::SIGKILL);
            *killed = true;
        }
    };
    let waited = loop {
        tokio::select! {
            code = spawned.wait() => break code,
            () = &mut renewer => {}
            _ = check.tick() => fence(&mut termed, &mut killed, &spawned),
        }
    };
    signals.forward_to(0);
    let code = waited?;
    // The rest of the group (a wrapper's child) is stopped too, and waited for; while
    // fenced, within what is left of the lease.
    let grace = if termed {
        let since = renewed_at.lock().map(|t| t.elapsed()).unwrap_or_default();
        (lease * 5 / 6).saturating_sub(since)
    } else {
        lease / 3
    };
    let output = spawned.finish(grace).await?;
    Ok(Ended {
        code,
        output,
        fenced: termed,
    })
}
