//! The schema gate (every role that does not migrate): wait, after the probes, until the
//! database is migrated for this image's own fingerprint — the completion record a beat of
//! the same image writes — or, for a database migrated outside pulp-init, until
//! `<migrate command> --dry-run` says nothing is left to migrate.

use crate::error::{Error, Result};
use crate::migrate::{self, DryRun, Fingerprint, Spawned, Store};
use crate::startup;
use crate::sys::SigSet;
use crate::time::human;
use std::time::{Duration, Instant};

/// How often the record is looked for: a new one is noticed within this (p95 ≤ 250 ms),
/// also while a `--dry-run` runs.
const POLL: Duration = Duration::from_millis(100);
/// `--dry-run` starts Python and reads the database (1.4–3.4 s with the real Pulp): the
/// first at once, the next this long after one ends, the pause doubling up to a minute.
const DRY_RUN_PAUSE: Duration = Duration::from_secs(5);
const DRY_RUN_PAUSE_MAX: Duration = Duration::from_secs(60);

pub struct Options {
    pub fingerprint: Fingerprint,
    pub timeout: Duration,
    /// `<migrate command>` as the migration user, asked with `--dry-run`.
    pub migrate: crate::child::Service,
    /// Open on a database a newer image migrated (`--allow-older-image`).
    pub allow_older: bool,
}

pub fn wait(
    target: &crate::db::MongoTarget,
    opts: &Options,
    signals: &startup::Signals,
    original_mask: &SigSet,
) -> Result<()> {
    migrate::with_store(target, async |store| {
        gate(store, opts, signals, original_mask).await
    })
}

/// While a beat migrates (the lock's lease runs), no role opens: not even on its own
/// image's record, which an older image has (the newer one's record comes at the end).
async fn wait_while_migrating(store: &Store, started: Instant, deadline: Instant) -> Result<()> {
    let mut announced = false;
    while let Some(lock) = store.migration_running().await? {
        if Instant::now() >= deadline {
            return Err(Error::Lock(format!(
                "schema: a migration is still running ({}) after {} (--migrate-timeout)",
                migrate::lock_holder(&lock),
                human(started.elapsed())
            )));
        }
        if !announced {
            log::info!(
                "schema: a migration is running ({}, lease until {}): waiting for it to end",
                migrate::lock_holder(&lock),
                migrate::lock_expires(&lock)
            );
            announced = true;
        }
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
    Ok(())
}

/// The running `--dry-run`'s exit, or never when none runs.
async fn ended(running: &mut Option<Spawned>) -> Result<i32> {
    match running {
        Some(s) => s.wait().await,
        None => std::future::pending().await,
    }
}

enum Event {
    Tick,
    DryRunEnded(Result<i32>),
}

async fn gate(
    store: &Store,
    opts: &Options,
    signals: &startup::Signals,
    original_mask: &SigSet,
) -> Result<()> {
    let started = Instant::now();
    let deadline = started + opts.timeout;
    let fp = &opts.fingerprint;
    let name = opts.migrate.name();
    wait_while_migrating(store, started, deadline).await?;
    if fp.trusted {
        if let Some(r) = store.record(&fp.value).await? {
            migrate::refuse_older_image(store, &r, opts.allow_older, "schema").await?;
            log::info!("schema: migrated for this image ({r})");
            return Ok(());
        }
    }
    let last = match store.latest_record().await? {
        Some(r) => format!("the database was last migrated for {r}"),
        None => "the database has no migration record yet".into(),
    };
    log::info!(
        "schema: waiting for a beat of this image to migrate the database for fingerprint {} ({last}); asking {name} --dry-run meanwhile, at once, then every {} at first and less often later",
        fp.value,
        human(DRY_RUN_PAUSE)
    );
    let mut running: Option<Spawned> = None;
    let mut next_dry_run = Some(started);
    let mut pause = DRY_RUN_PAUSE;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let opened = loop {
        let event = tokio::select! {
            _ = tick.tick() => Event::Tick,
            code = ended(&mut running) => Event::DryRunEnded(code),
        };
        match event {
            Event::Tick => {
                if fp.trusted {
                    if let Some(r) = store.record(&fp.value).await? {
                        break Ok(format!(
                            "schema: migrated for this image ({r}), after waiting {}",
                            human(started.elapsed())
                        ));
                    }
                }
                if Instant::now() >= deadline {
                    let last = match store.latest_record().await? {
                        Some(r) => format!("database migrated for {r}"),
                        None => "database not migrated by pulp-init yet".into(),
                    };
                    break Err(Error::Lock(format!(
                        "schema: {last}; this image is {}: start a beat of this image (waited {}, --migrate-timeout)",
                        fp.value,
                        human(started.elapsed())
                    )));
                }
                if running.is_none() && next_dry_run.is_some_and(|t| Instant::now() >= t) {
                    match migrate::start_dry_run(&opts.migrate, original_mask, signals) {
                        Ok(s) => running = Some(s),
                        Err(e) => {
                            log::warn!("schema: {name} --dry-run: {e}; waiting for a completion record only");
                            next_dry_run = None;
                        }
                    }
                }
            }
            Event::DryRunEnded(code) => {
                if let Some(mut s) = running.take() {
                    s.finish(Duration::from_secs(1)).await?;
                }
                match code.map(DryRun::of) {
                    Ok(DryRun::UpToDate) => {
                        // As beat does on the same answer: this image's record, so that a
                        // beat of this image does not take this role's heartbeats for the
                        // previous deployment's and wait for them.
                        store
                            .confirm_record(&fp.value, &migrate::holder_id())
                            .await?;
                        break Ok(format!(
                            "schema: {name} --dry-run reports nothing to migrate, after waiting {} (recorded for {})",
                            human(started.elapsed()),
                            fp.value
                        ));
                    }
                    Ok(DryRun::Pending) => {
                        log::debug!(
                            "schema: {name} --dry-run reports pending migrations; next in {}",
                            human(pause)
                        );
                        next_dry_run = Some(Instant::now() + pause);
                        pause = (pause * 2).min(DRY_RUN_PAUSE_MAX);
                    }
                    Ok(DryRun::Failed(code)) => {
                        log::warn!("schema: {name} --dry-run exited {code}; waiting for a completion record only");
                        next_dry_run = None;
                    }
                    Err(e) => {
                        log::warn!(
                            "schema: {name} --dry-run: {e}; waiting for a completion record only"
                        );
                        next_dry_run = None;
                    }
                }
            }
        }
    };
    if let Some(s) = running.take() {
        s.kill().await;
    }
    log::info!("{}", opened?);
    Ok(())
}
