//! The migrate phase (beat): run the migration command once per installed Pulp, never
//! twice at a time, and never while Pulp processes of the previous deployment are online.
//! A lease lock and completion records live in the Pulp database (`store.rs`); the
//! command runs under the lease (`command.rs`).

mod command;
mod output;
mod store;

use command::Output;
pub use command::Spawned;
use output::Kept;
pub use store::{
    client_now, expires as lock_expires, holder as lock_holder, pod_id, Presence, Store,
    KEYS_LOCK_ID,
};

use crate::child::Service;
use crate::db::MongoTarget;
use crate::error::{Error, Result};
use crate::startup;
use crate::sys::SigSet;
use crate::time::human;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A failed run is run again only where that can help (a Pulp process came online during
/// it, or its database connection dropped), this many times in all.
const ATTEMPTS: u32 = 3;
const RETRY_PAUSE: Duration = Duration::from_secs(2);
/// How often a waiter looks at the lock, and at Pulp's workers.
const POLL: Duration = Duration::from_millis(250);

/// Which installed Pulp this is. A fingerprint from `PULP_INIT_MIGRATION_FINGERPRINT` or a
/// version file is trusted: a record for it means "migrated". Without either, pulp-init
/// cannot tell an upgrade from a restart and asks the command (`--dry-run`) instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub value: String,
    pub trusted: bool,
}

pub struct Options {
    pub force: bool,
    pub lease: Duration,
    /// Bounds the waits for the lock and for online workers.
    pub timeout: Duration,
    pub fingerprint: Fingerprint,
    pub service: Service,
    /// `[tasks] worker_timeout`: a heartbeat younger than this is an online process.
    pub worker_timeout: Duration,
    /// After the last process of the previous deployment went offline, this much more
    /// before migrating (its record goes before its process ends).
    pub settle: Duration,
    /// Start on a database a newer image migrated (`--allow-older-image`).
    pub allow_older: bool,
}

/// The fingerprint of the installed Pulp: `given` if set; else a SHA-256 of the version
/// file and the command's resolved executable; else (untrusted) of the executable alone.
pub fn fingerprint(
    given: Option<String>,
    command: &[OsString],
    version_file: Option<&Path>,
) -> Result<Fingerprint> {
    if let Some(f) = given.filter(|f| !f.is_empty()) {
        return Ok(Fingerprint {
            value: f,
            trusted: true,
        });
    }
    let program = command
        .first()
        .ok_or_else(|| Error::env("PULP_INIT_MIGRATE_COMMAND", "is empty"))?;
    let exe = resolve(program).ok_or_else(|| Error::Exec {
        code: 127,
        message: format!("{}: migration command not found", program.to_string_lossy()),
    })?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"pulp-init migration fingerprint v1\0");
    ctx.update(exe.as_os_str().as_encoded_bytes());
    ctx.update(b"\0");
    ctx.update(&std::fs::read(&exe).map_err(|e| Error::Exec {
        code: 126,
        message: format!("{}: cannot read: {e}", exe.display()),
    })?);
    ctx.update(b"\0");
    if let Some(v) = version_file {
        ctx.update(&read_version_file(v).map_err(|e| {
            Error::env(
                "PULP_INIT_VERSION_FILE",
                format!("cannot read {}: {e}", v.display()),
            )
        })?);
    }
    let hex: String = ctx.finish().as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(match version_file {
        Some(_) => Fingerprint {
            value: hex,
            trusted: true,
        },
        None => Fingerprint {
            value: format!("unversioned-{hex}"),
            trusted: false,
        },
    })
}

/// The largest version file read: it names a build, it is not a data file.
const VERSION_FILE_MAX: u64 = 1024 * 1024;

/// A regular file (or a link to one) of at most [`VERSION_FILE_MAX`] bytes. A FIFO or a
/// device is refused without blocking on it (opening a FIFO for reading waited forever).
fn read_version_file(path: &Path) -> std::io::Result<Vec<u8>> {
    crate::conf::read_small_file(
        path,
        VERSION_FILE_MAX,
        "give a regular file",
        &format!(
            "it is larger than {} MiB; give a small file that names the build",
            VERSION_FILE_MAX / (1024 * 1024)
        ),
    )
}

/// execvp's search: a name with a slash as is, otherwise the first executable in PATH.
fn resolve(program: &OsString) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let p = Path::new(program);
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.as_encoded_bytes().contains(&b'/') {
        return executable(p).then(|| std::fs::canonicalize(p).unwrap_or(p.to_path_buf()));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(p))
        .find(|c| executable(c))
        .map(|c| std::fs::canonicalize(&c).unwrap_or(c))
}

/// What `<command> --dry-run` says (pulp-manage-db: 0 nothing to migrate, 1 pending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DryRun {
    UpToDate,
    Pending,
    /// Any other exit (64 as root, 69 without /dev/log, 127 not installed): no answer.
    Failed(i32),
}

impl DryRun {
    pub fn of(code: i32) -> DryRun {
        match code {
            0 => DryRun::UpToDate,
            1 => DryRun::Pending,
            code => DryRun::Failed(code),
        }
    }
}

/// Starts `<command> --dry-run` as the service's user in its own process group, its
/// output logged at debug level; a stop signal that ends pulp-init kills it.
pub fn start_dry_run(
    service: &Service,
    original_mask: &SigSet,
    signals: &startup::Signals,
) -> Result<Spawned> {
    let mut service = service.clone();
    service.argv.push("--dry-run".into());
    Spawned::start(&service, original_mask, Output::Debug, signals)
}

/// What a started `--dry-run` says, once it has ended (and its group is gone).
pub async fn dry_run_result(mut spawned: Spawned) -> Result<DryRun> {
    let code = spawned.wait().await?;
    spawned.finish(Duration::from_secs(1)).await?;
    Ok(DryRun::of(code))
}

/// A runtime and the store, for the phases that talk to the Pulp database.
pub fn with_store<T>(target: &MongoTarget, f: impl AsyncFnOnce(&Store) -> Result<T>) -> Result<T> {
    with_store_locking(target, store::MIGRATION_LOCK_ID, f)
}

/// As `with_store`, the store's lock `lock_id`.
pub fn with_store_locking<T>(
    target: &MongoTarget,
    lock_id: &'static str,
    f: impl AsyncFnOnce(&Store) -> Result<T>,
) -> Result<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the database runtime: {e}")))?;
    let result = rt.block_on(async {
        let client = target
            .client(Duration::from_secs(10))
            .map_err(|e| Error::database("connecting", e))?;
        f(&Store::new(client.database(&target.name)).with_lock(lock_id)).await
    });
    rt.shutdown_timeout(Duration::from_millis(200));
    result
}

pub fn migrate(
    target: &MongoTarget,
    opts: &Options,
    signals: &startup::Signals,
    original_mask: &SigSet,
) -> Result<()> {
    with_store(target, async |store| {
        run(store, opts, signals, original_mask).await
    })
}

/// This image's record is older than another image's migration: Pulp 2's migrations
/// only go forward, so this image's code may not know the schema (a rollback). Exit 75
/// naming both, unless `allow` (then a warning).
pub async fn refuse_older_image(
    store: &Store,
    mine: &store::Record,
    allow: bool,
    phase: &str,
) -> Result<()> {
    let Some(newer) = store.newer_migration(mine).await? else {
        return Ok(());
    };
    let what = format!(
        "{phase}: the database was migrated for a newer image, fingerprint {newer}, after this image's ({mine}); Pulp 2's migrations only go forward, so this image's code may not work on that schema"
    );
    if allow {
        log::warn!("{what}: starting anyway (--allow-older-image)");
        return Ok(());
    }
    Err(Error::Lock(format!(
        "{what}: deploy the newer image again (or restore the database from before the upgrade), or start anyway with --allow-older-image (PULP_INIT_ALLOW_OLDER_IMAGE=true)"
    )))
}

pub fn holder_id() -> String {
    let host = crate::presence::host_name();
    format!(
        "{host}/pid {}/started {}",
        std::process::id(),
        crate::time::rfc3339(client_now())
    )
}

/// How many processes a log line names; the rest are counted (5,000 workers made a
/// 520 KB line).
const NAMED: usize = 5;

/// `a, b, c, d, e and 4995 more`.
fn some_of(items: impl ExactSizeIterator<Item = String>) -> String {
    let more = items.len().saturating_sub(NAMED);
    let named: Vec<String> = items.take(NAMED).collect();
    if more == 0 {
        named.join(", ")
    } else {
        format!("{} and {more} more", named.join(", "))
    }
}

/// What a waiting line names: a pod's presence only where no Pulp record of its host
/// says more (httpd has none), so that five names cover a small deployment.
fn shown(online: &[store::Online]) -> impl ExactSizeIterator<Item = &store::Online> {
    let recorded = |host: &str| {
        online
            .iter()
            .any(|o| o.image.is_none() && o.name.rsplit_once('@').is_some_and(|(_, h)| h == host))
    };
    online
        .iter()
        .filter(|o| !o.host.as_deref().is_some_and(recorded))
        .collect::<Vec<_>>()
        .into_iter()
}

/// Says once, then when the *set* of names changes (not their heartbeat order), which
/// Pulp processes are online, and which have a heartbeat too far in the future to count.
fn announce_online(beats: &store::Heartbeats, last: &mut store::Heartbeats) {
    use std::collections::BTreeSet;
    let names = |b: &store::Heartbeats| -> BTreeSet<String> {
        b.online.iter().map(|o| o.name.clone()).collect()
    };
    let ahead_names = |b: &store::Heartbeats| -> BTreeSet<String> {
        b.ahead.iter().map(|(n, _)| n.clone()).collect()
    };
    if ahead_names(beats) != ahead_names(last) && !beats.ahead.is_empty() {
        log::warn!(
            "migrations: not counted as online: a heartbeat further ahead of the database's clock than [tasks] worker_timeout (clock skew, or a bad record): {} (pulp-manage-db's own check counts it and waits until 92 s after that heartbeat: fix that host's clock, or remove the record from the workers collection)",
            some_of(
                beats
                    .ahead
                    .iter()
                    .map(|(n, d)| format!("{n} ({} ahead)", human(*d)))
            )
        );
    }
    if names(beats) != names(last) {
        if beats.online.is_empty() {
            if !last.online.is_empty() {
                log::info!("migrations: no Pulp process is online any more");
            }
        } else {
            log::info!(
                "migrations: waiting: Pulp processes of the previous deployment are online: {}",
                some_of(shown(&beats.online).map(ToString::to_string))
            );
        }
    }
    *last = beats.clone();
}

/// Why a failed run is run again.
enum Retry {
    /// Pulp processes came online during the run (pulp-manage-db exits 70 for them).
    ProcessesOnline(String),
    /// The command lost its database connection.
    DatabaseLost,
}

/// How one attempt ended.
enum Attempt {
    Migrated,
    Retry(Retry, Kept, i32),
}

/// One beat's migration: the steps (`already_done`, `wait_for_previous_deployment`,
/// `claim_lease`, `done_meanwhile`, `attempt`, `record`) and what they share.
struct Migration<'a> {
    store: &'a Store,
    opts: &'a Options,
    signals: &'a startup::Signals,
    original_mask: &'a SigSet,
    me: String,
    started: Instant,
    deadline: Instant,
    /// The database server's clock at the start: a record written after it was written
    /// by a beat that migrated while this one waited.
    started_db: mongodb::bson::DateTime,
    /// The first `--dry-run` failed: asking again under the lock would not help.
    dry_run_fails: bool,
}

impl Migration<'_> {
    fn name(&self) -> String {
        self.opts.service.name()
    }

    fn fingerprint(&self) -> &Fingerprint {
        &self.opts.fingerprint
    }

    /// Before any wait: a record for a trusted fingerprint, or (without one) the
    /// command's `--dry-run`, says there is nothing to do.
    async fn already_done(&mut self) -> Result<bool> {
        let fp = self.fingerprint();
        if self.opts.force {
            return Ok(false);
        }
        if fp.trusted {
            if let Some(r) = self.store.record(&fp.value).await? {
                refuse_older_image(self.store, &r, self.opts.allow_older, "migrations").await?;
                log::info!(
                    "migrations: skipped: already done for fingerprint {r} (after {})",
                    human(self.started.elapsed())
                );
                return Ok(true);
            }
            return Ok(false);
        }
        log::warn!(
            "migrations: no PULP_INIT_MIGRATION_FINGERPRINT and no version file, so every start asks {} --dry-run; bake /etc/pulp-init/version into the image to make restarts faster",
            self.name()
        );
        let spawned = start_dry_run(&self.opts.service, self.original_mask, self.signals)?;
        self.settle_dry_run(dry_run_result(spawned).await?).await
    }

    /// What a `--dry-run` said: nothing to migrate is a skip (and a confirmation in the
    /// record, which never replaces a migrating run's own fields).
    async fn settle_dry_run(&mut self, said: DryRun) -> Result<bool> {
        let name = self.name();
        match said {
            DryRun::UpToDate => {
                log::info!(
                    "migrations: skipped: {name} --dry-run reports nothing to migrate (after {})",
                    human(self.started.elapsed())
                );
                self.store
                    .confirm_record(&self.fingerprint().value, &self.me)
                    .await?;
                Ok(true)
            }
            DryRun::Pending => {
                log::info!("migrations: {name} --dry-run reports pending migrations");
                Ok(false)
            }
            DryRun::Failed(code) => {
                log::warn!("migrations: {name} --dry-run exited {code}; migrating to be safe");
                self.dry_run_fails = true;
                Ok(false)
            }
        }
    }

    /// Until no Pulp process of the previous deployment is online: while one is,
    /// pulp-manage-db would only sleep its 92 s and exit 70. After the last record goes,
    /// `settle` more: a worker removes its record during its shutdown, before its process
    /// has ended.
    async fn wait_for_previous_deployment(&self) -> Result<()> {
        let mut seen = store::Heartbeats::default();
        let mut any_seen = false;
        let mut settled = false;
        loop {
            if self.recorded_meanwhile().await? {
                return Ok(());
            }
            let beats = self
                .store
                .online(self.opts.worker_timeout, &self.fingerprint().value)
                .await?;
            announce_online(&beats, &mut seen);
            let Some(newest) = beats.online.first() else {
                if !any_seen || settled || self.opts.settle.is_zero() {
                    return Ok(());
                }
                let left = self.deadline.saturating_duration_since(Instant::now());
                log::info!(
                    "migrations: waiting {} more for the last processes to end (--migrate-settle)",
                    human(self.opts.settle.min(left))
                );
                tokio::time::sleep(self.opts.settle.min(left)).await;
                settled = true;
                continue;
            };
            any_seen = true;
            settled = false;
            if Instant::now() >= self.deadline {
                return Err(Error::Lock(format!(
                    "migrations: Pulp processes of the previous deployment are still online after {} ({}); stop them, or raise --migrate-timeout",
                    human(self.started.elapsed()),
                    some_of(beats.online.iter().map(|o| o.name.clone()))
                )));
            }
            // The newest heartbeat ages past the timeout at a known time: look again then.
            let until_offline = self.opts.worker_timeout.saturating_sub(newest.age);
            let left = self.deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(
                until_offline
                    .clamp(Duration::from_millis(20), POLL)
                    .min(left),
            )
            .await;
        }
    }

    /// A record for this image came while beat waited (a gated role of this image opened
    /// on `--dry-run`, or another beat): the processes online may be this image's own,
    /// and `done_meanwhile` decides under the lock.
    async fn recorded_meanwhile(&self) -> Result<bool> {
        let fp = self.fingerprint();
        if self.opts.force || !fp.trusted {
            return Ok(false);
        }
        Ok(match self.store.record(&fp.value).await? {
            Some(r) => {
                log::info!("migrations: a record for this image came while waiting ({r})");
                true
            }
            None => false,
        })
    }

    /// Until the lock is ours.
    async fn claim_lease(&self) -> Result<()> {
        let mut announced = false;
        while let Some(holder) = self.store.try_lock(&self.me, self.opts.lease).await? {
            if Instant::now() >= self.deadline {
                return Err(Error::Lock(format!(
                    "migrations: the lock is still held by {} after {}; exiting",
                    store::holder(&holder),
                    human(self.started.elapsed())
                )));
            }
            if !announced {
                log::info!(
                    "migrations: waiting: {} holds the lock (lease until {})",
                    store::holder(&holder),
                    store::expires(&holder)
                );
                announced = true;
            }
            let left = self.deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(POLL.min(left)).await;
        }
        Ok(())
    }

    /// Under the lock, decided again: another beat may have migrated while this one
    /// waited (its record), or, without a trusted fingerprint, a fresh `--dry-run` says.
    async fn done_meanwhile(&mut self) -> Result<bool> {
        if self.opts.force {
            return Ok(false);
        }
        let fp = self.fingerprint().clone();
        if let Some(r) = self.store.record(&fp.value).await? {
            if fp.trusted || r.completed_at >= self.started_db {
                log::info!(
                    "migrations: skipped: done meanwhile for fingerprint {r} (after {})",
                    human(self.started.elapsed())
                );
                return Ok(true);
            }
        }
        if fp.trusted || self.dry_run_fails {
            return Ok(false);
        }
        let spawned = start_dry_run(&self.opts.service, self.original_mask, self.signals)?;
        let ended =
            command::under_lease(self.store, &self.me, self.opts.lease, spawned, self.signals)
                .await?;
        self.stopped(&ended)?;
        self.settle_dry_run(DryRun::of(ended.code)).await
    }

    /// An error when the run under the lease was fenced or stopped by a signal.
    fn stopped(&self, ended: &command::Ended) -> Result<()> {
        let name = self.name();
        if ended.fenced {
            // The lock may be another's by now: not ours to release or to record under.
            return Err(Error::Lock(format!(
                "migrations: the lease on the migration lock could not be kept, so {name} and its process group were stopped (exit {}); not recorded, the next start runs it again",
                ended.code
            )));
        }
        if let Some(sig) = self.signals.received() {
            return Err(Error::Migration {
                code: 128 + sig,
                message: format!("migrations: {name} was stopped by a signal; not recorded"),
            });
        }
        Ok(())
    }

    /// One run of the command under the lease.
    async fn attempt(&self, attempt: u32) -> Result<Attempt> {
        let name = self.name();
        log::info!(
            "migrations: running {name} (fingerprint {}{}, attempt {attempt} of {ATTEMPTS}, after {})",
            self.fingerprint().value,
            if self.opts.force { ", forced" } else { "" },
            human(self.started.elapsed())
        );
        let spawned = Spawned::start(
            &self.opts.service,
            self.original_mask,
            Output::Pass,
            self.signals,
        )?;
        let ended =
            command::under_lease(self.store, &self.me, self.opts.lease, spawned, self.signals)
                .await?;
        self.stopped(&ended)?;
        if ended.code == 0 {
            return Ok(Attempt::Migrated);
        }
        let out = ended.output;
        let online = self
            .store
            .online(self.opts.worker_timeout, &self.fingerprint().value)
            .await?
            .online;
        let retry = if !online.is_empty() {
            Some(Retry::ProcessesOnline(some_of(
                online.iter().map(|o| o.name.clone()),
            )))
        } else if out.live_processes {
            Some(Retry::ProcessesOnline(format!("as {name} said")))
        } else if out.lost_database {
            Some(Retry::DatabaseLost)
        } else {
            None
        };
        match retry {
            Some(r) if attempt < ATTEMPTS && Instant::now() + RETRY_PAUSE < self.deadline => {
                Ok(Attempt::Retry(r, out, ended.code))
            }
            r => {
                let why = match r {
                    None => "not retried: no Pulp process came online and the database connection did not drop, so another run would fail the same way",
                    Some(_) => "no attempt left before --migrate-timeout",
                };
                Err(Error::Migration {
                    code: ended.code,
                    message: format!(
                        "migrations: {name} failed with exit status {}{} (attempt {attempt} of {ATTEMPTS}, after {}; {why}); not recorded, the next start runs it again{}",
                        ended.code,
                        out.summary().map(|s| format!(": {s}")).unwrap_or_default(),
                        human(self.started.elapsed()),
                        output_lines(&out)
                    ),
                })
            }
        }
    }
}

/// The kept output for an error or warning: `; its output (…):` and the lines.
fn output_lines(out: &Kept) -> String {
    if out.is_empty() {
        return String::from(" (no output)");
    }
    let collapsed = match out.collapsed {
        0 => String::new(),
        n => format!(", {n} repeated lines collapsed"),
    };
    format!(
        "; its output (first error lines and last lines{collapsed}):\n{}",
        out.lines()
            .iter()
            .map(|l| format!("  | {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

async fn run(
    store: &Store,
    opts: &Options,
    signals: &startup::Signals,
    original_mask: &SigSet,
) -> Result<()> {
    let mut m = Migration {
        store,
        opts,
        signals,
        original_mask,
        me: holder_id(),
        started: Instant::now(),
        deadline: Instant::now() + opts.timeout,
        started_db: store.server_now().await?,
        dry_run_fails: false,
    };
    if m.already_done().await? {
        return Ok(());
    }
    let name = m.name();
    let mut attempt = 0;
    loop {
        m.wait_for_previous_deployment().await?;
        m.claim_lease().await?;
        let decided = m.done_meanwhile().await;
        if !matches!(decided, Ok(false)) {
            if !matches!(&decided, Err(Error::Lock(_))) {
                store.release(&m.me).await;
            }
            return decided.map(|_| ());
        }
        attempt += 1;
        let attempted = m.attempt(attempt).await;
        match attempted {
            Ok(Attempt::Migrated) => {
                let total = m.started.elapsed();
                let written = store
                    .write_record(&opts.fingerprint.value, &m.me, total.as_secs_f64())
                    .await;
                store.release(&m.me).await;
                written?;
                log::info!(
                    "migrations: done in {} (all attempts and waits)",
                    human(total)
                );
                return Ok(());
            }
            Ok(Attempt::Retry(why, out, code)) => {
                store.release(&m.me).await;
                let why = match why {
                    Retry::ProcessesOnline(names) => {
                        format!("Pulp processes came online during the run ({names}): waiting for them to go, then")
                    }
                    Retry::DatabaseLost => "its database connection dropped:".into(),
                };
                log::warn!(
                    "migrations: {name} failed with exit status {code}{}; {why} retrying in {} (attempt {} of {ATTEMPTS} next){}",
                    out.summary().map(|s| format!(": {s}")).unwrap_or_default(),
                    human(RETRY_PAUSE),
                    attempt + 1,
                    output_lines(&out)
                );
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(e) => {
                // A fenced lease may be another's by now: not ours to release.
                if !matches!(e, Error::Lock(_)) {
                    store.release(&m.me).await;
                }
                if let Some(sig) = signals.received() {
                    log::warn!(
                        "migrations: stopped by {}: lock released",
                        crate::sys::signal_name(sig)
                    );
                }
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::Online;

    fn record(name: &str) -> Online {
        Online {
            name: name.into(),
            age: Duration::from_secs(1),
            image: None,
            host: None,
        }
    }

    fn pod(role: &str, host: &str) -> Online {
        Online {
            name: format!("{role} on {host}"),
            age: Duration::from_secs(2),
            image: Some("fp-v1".into()),
            host: Some(host.into()),
        }
    }

    #[test]
    fn a_pod_is_named_only_where_no_pulp_record_of_its_host_is() {
        let online = [
            record("reserved_resource_worker-1@w1"),
            pod("worker", "w1"),
            pod("apache", "web"),
            pod("worker", "w2"),
        ];
        let named: Vec<String> = shown(&online).map(ToString::to_string).collect();
        assert_eq!(
            named,
            [
                "reserved_resource_worker-1@w1 (heartbeat 1.0 s ago)",
                "apache on web (image fp-v1, seen 2.0 s ago)",
                "worker on w2 (image fp-v1, seen 2.0 s ago)",
            ]
        );
    }
}
