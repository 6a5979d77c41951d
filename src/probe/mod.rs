//! The probe phase: wait until MongoDB and the broker really answer, as Pulp will
//! connect to them (read from the effective server.conf), under one deadline.

mod amqp;
mod backoff;
mod mongo;
mod net;
pub use mongo::describe as describe_db_error;
pub use net::connect;

use crate::conf::Values;
use crate::error::{Error, Result};
use backoff::Backoff;
use std::cell::RefCell;
use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::db::MongoTarget;
pub use amqp::BrokerTarget;

/// How long and how often to try.
#[derive(Debug, Clone)]
pub struct Options {
    /// The overall deadline for all dependencies together.
    pub timeout: Duration,
    /// The longest one attempt may take.
    pub attempt_timeout: Duration,
    /// The longest wait between two attempts.
    pub retry_cap: Duration,
    /// `check`: one attempt each, no retry.
    pub single_attempt: bool,
}

/// What one attempt saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Ready(String),
    Refused(String),
    TimedOut(String),
    Dns(String),
    Tls(String),
    /// Bad or missing credentials, or no rights: permanent, stops the wait early.
    Auth(String),
    NotPrimary(String),
    Other(String),
}

impl Seen {
    fn category(&self) -> &'static str {
        match self {
            Seen::Ready(_) => "ready",
            Seen::Refused(_) => "connection refused",
            Seen::TimedOut(_) => "timed out",
            Seen::Dns(_) => "DNS failure",
            Seen::Tls(_) => "TLS failure",
            Seen::Auth(_) => "authentication failed",
            Seen::NotPrimary(_) => "not primary",
            Seen::Other(_) => "error",
        }
    }

    fn detail(&self) -> &str {
        match self {
            Seen::Ready(d)
            | Seen::Refused(d)
            | Seen::TimedOut(d)
            | Seen::Dns(d)
            | Seen::Tls(d)
            | Seen::Auth(d)
            | Seen::NotPrimary(d)
            | Seen::Other(d) => d,
        }
    }
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.detail().is_empty() {
            f.write_str(self.category())
        } else {
            write!(f, "{}: {}", self.category(), self.detail())
        }
    }
}

/// Authentication failures must repeat this often before the wait gives up early.
const PERMANENT_AFTER: u32 = 3;
/// At most 20 attempts a second per dependency.
const MIN_SPACING: Duration = Duration::from_millis(50);

/// A dependency to probe.
pub enum Dependency {
    Mongo(MongoTarget),
    Broker(BrokerTarget),
}

impl Dependency {
    pub fn name(&self) -> String {
        match self {
            Dependency::Mongo(t) => format!("mongodb ({})", t.describe()),
            Dependency::Broker(t) => format!("broker ({})", t.describe()),
        }
    }

    async fn attempt(&self, timeout: Duration) -> Seen {
        let work = async {
            match self {
                Dependency::Mongo(t) => t.attempt(timeout).await,
                Dependency::Broker(t) => t.attempt(timeout).await,
            }
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(seen) => seen,
            Err(_) => Seen::TimedOut(format!("no answer within {}", crate::time::human(timeout))),
        }
    }
}

/// How often a refused port is looked at during a backoff pause.
const WATCH_EVERY: Duration = Duration::from_millis(100);

impl Dependency {
    fn endpoints(&self) -> Vec<(String, u16)> {
        match self {
            Dependency::Mongo(t) => t.seeds.clone(),
            Dependency::Broker(t) => t.endpoints(),
        }
    }

    /// Sleeps up to `pause`, ending early once one of the endpoints accepts connections.
    async fn until_listening(&self, pause: Duration) {
        let until = Instant::now() + pause;
        let endpoints = self.endpoints();
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left.min(WATCH_EVERY)).await;
            for (host, port) in &endpoints {
                let connect = net::connect(host, *port);
                if let Ok(Ok(_)) = tokio::time::timeout(WATCH_EVERY, connect).await {
                    return;
                }
            }
        }
    }
}

/// The dependencies a run needs, from the effective server.conf.
pub fn dependencies(values: &Values, db: bool, broker: bool) -> Result<Vec<Dependency>> {
    let mut deps = Vec::new();
    if db {
        deps.push(Dependency::Mongo(MongoTarget::from_conf(values)?));
    }
    if broker {
        deps.push(Dependency::Broker(BrokerTarget::from_conf(values)?));
    }
    Ok(deps)
}

/// Waits for every dependency; Ok when all are ready, `Error::Unavailable` (exit 69)
/// at the deadline or after repeated authentication failures.
pub fn wait(deps: Vec<Dependency>, opts: &Options) -> Result<()> {
    if deps.is_empty() {
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the probe runtime: {e}")))?;
    let results = rt.block_on(wait_all(&deps, opts));
    // Closing the runtime drops the drivers' background tasks before anything else runs.
    rt.shutdown_timeout(Duration::from_millis(100));
    let failed: Vec<String> = deps
        .iter()
        .zip(results)
        .filter_map(|(d, r)| match r {
            Seen::Ready(_) => None,
            seen @ Seen::Auth(_) => Some(format!("{}: {seen}", d.name())),
            seen => Some(format!(
                "{}: not ready within {}; last seen: {seen}",
                d.name(),
                crate::time::human(opts.timeout)
            )),
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Unavailable(failed))
    }
}

async fn wait_all(deps: &[Dependency], opts: &Options) -> Vec<Seen> {
    let deadline = Instant::now() + opts.timeout;
    // What each dependency last showed, for those stopped before they ended.
    let last: RefCell<Vec<Option<Seen>>> = RefCell::new(vec![None; deps.len()]);
    let mut done: Vec<Option<Seen>> = vec![None; deps.len()];
    let mut loops: Vec<_> = deps
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let last = &last;
            Box::pin(wait_one(d, opts, deadline, move |seen| {
                last.borrow_mut()[i] = Some(seen.clone());
            }))
        })
        .collect();
    // Side by side; a permanent failure (authentication) stops them all: the wait
    // cannot succeed any more.
    std::future::poll_fn(|cx| {
        for (i, f) in loops.iter_mut().enumerate() {
            if done[i].is_none() {
                if let Poll::Ready(seen) = f.as_mut().poll(cx) {
                    let permanent = matches!(seen, Seen::Auth(_));
                    done[i] = Some(seen);
                    if permanent {
                        return Poll::Ready(());
                    }
                }
            }
        }
        if done.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    drop(loops);
    done.into_iter()
        .zip(last.into_inner())
        .map(|(d, l)| {
            d.or(l).unwrap_or_else(|| {
                Seen::Other("stopped: another dependency failed for good".into())
            })
        })
        .collect()
}

async fn wait_one(
    dep: &Dependency,
    opts: &Options,
    deadline: Instant,
    mut report: impl FnMut(&Seen),
) -> Seen {
    let name = dep.name();
    let started = Instant::now();
    let mut backoff = Backoff::new(opts.retry_cap);
    let mut previous: Option<&'static str> = None;
    let mut same_permanent = 0u32;
    let mut attempts = 0u32;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let attempt_started = Instant::now();
        attempts += 1;
        let seen = dep
            .attempt(
                opts.attempt_timeout
                    .min(remaining)
                    .max(Duration::from_millis(1)),
            )
            .await;
        report(&seen);
        if let Seen::Ready(detail) = &seen {
            log::info!(
                "{name}: ready after {} ({attempts} attempt{}){}",
                crate::time::human(started.elapsed()),
                if attempts == 1 { "" } else { "s" },
                if detail.is_empty() {
                    String::new()
                } else {
                    format!("; {detail}")
                }
            );
            return seen;
        }
        if previous != Some(seen.category()) && !opts.single_attempt {
            log::info!("{name}: waiting: {seen}");
            previous = Some(seen.category());
            same_permanent = 0;
        }
        if matches!(seen, Seen::Auth(_)) {
            same_permanent += 1;
            if same_permanent >= PERMANENT_AFTER {
                log::info!(
                    "{name}: giving up early: the same answer {same_permanent} times in a row"
                );
                return seen;
            }
        }
        if opts.single_attempt {
            return seen;
        }
        let now = Instant::now();
        if now >= deadline {
            return seen;
        }
        let spacing = MIN_SPACING.saturating_sub(now - attempt_started);
        let pause = backoff.next().max(spacing).min(deadline - now);
        if matches!(seen, Seen::Refused(_)) {
            // Nothing listens yet: a backoff pause near its cap would add up to a second
            // of delay once the server is up. A refused connect costs nothing, so watch
            // the port during the pause and try in full as soon as it accepts.
            dep.until_listening(pause.max(spacing)).await;
        } else {
            tokio::time::sleep(pause).await;
        }
        if Instant::now() >= deadline {
            return seen;
        }
    }
}
