//! The schema gate (every role that does not migrate): wait, after the probes, until the
//! database is migrated for this image's own fingerprint — the completion record a beat of
//! the same image writes — or, for a database migrated outside pulp-init, until
//! `<migrate command> --dry-run` says nothing is left to migrate.

use crate::error::{Error, Result};
use crate::migrate::{self, DryRun, Fingerprint, Store};
use crate::sys::SigSet;
use crate::time::human;
use std::time::{Duration, Instant};

/// How often the record is looked for: a new one is noticed within this (p95 ≤ 250 ms).
const POLL: Duration = Duration::from_millis(100);
/// How often `--dry-run` is asked (it starts Python and reads the database: not cheap).
const DRY_RUN_EVERY: Duration = Duration::from_secs(5);

pub struct Options {
    pub fingerprint: Fingerprint,
    pub timeout: Duration,
    /// `<migrate command>` as the migration user, asked with `--dry-run`.
    pub migrate: crate::child::Service,
}

pub fn wait(target: &crate::db::MongoTarget, opts: &Options, original_mask: &SigSet) -> Result<()> {
    migrate::with_store(target, async |store| gate(store, opts, original_mask).await)
}

async fn gate(store: &Store, opts: &Options, original_mask: &SigSet) -> Result<()> {
    let started = Instant::now();
    let deadline = started + opts.timeout;
    let fp = &opts.fingerprint;
    let name = opts.migrate.name();
    let mut announced = false;
    let mut next_dry_run = started;
    let mut dry_run_works = true;
    loop {
        if fp.trusted {
            if let Some(r) = store.record(&fp.value).await? {
                log::info!(
                    "schema: migrated for this image ({r}){}",
                    waited(announced, started)
                );
                return Ok(());
            }
        }
        if dry_run_works && Instant::now() >= next_dry_run {
            match migrate::dry_run(&opts.migrate, original_mask).await {
                Ok(DryRun::UpToDate) => {
                    log::info!(
                        "schema: {name} --dry-run reports nothing to migrate{}",
                        waited(announced, started)
                    );
                    return Ok(());
                }
                Ok(DryRun::Pending) => {}
                Ok(DryRun::Failed(code)) => {
                    log::warn!("schema: {name} --dry-run exited {code}; waiting for a completion record only");
                    dry_run_works = false;
                }
                Err(e) => {
                    log::warn!(
                        "schema: {name} --dry-run: {e}; waiting for a completion record only"
                    );
                    dry_run_works = false;
                }
            }
            next_dry_run = Instant::now() + DRY_RUN_EVERY;
        }
        if !announced {
            let last = match store.latest_record().await? {
                Some(r) => format!("the database was last migrated for {r}"),
                None => "the database has no migration record yet".into(),
            };
            log::info!(
                "schema: waiting for a beat of this image to migrate the database for fingerprint {} ({last})",
                fp.value
            );
            announced = true;
        }
        if Instant::now() >= deadline {
            let last = match store.latest_record().await? {
                Some(r) => format!("database migrated for {r}"),
                None => "database not migrated by pulp-init yet".into(),
            };
            return Err(Error::Lock(format!(
                "schema: {last}; this image is {}: start a beat of this image (waited {}, --migrate-timeout)",
                fp.value,
                human(started.elapsed())
            )));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(POLL.min(left)).await;
    }
}

fn waited(announced: bool, started: Instant) -> String {
    if announced {
        format!(", after waiting {}", human(started.elapsed()))
    } else {
        String::new()
    }
}
